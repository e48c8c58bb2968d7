"""The capacity model: pure functions from measurements and the node catalog to figures.

capacity_at_slo  capacity per pod at the SLO, CPU-seconds per request
rightsizing      requests = limits from measured use, with the reasoning
allocatable      node allocatable per provider rule, daemonset overhead
fit              pods per node (NodeResourcesFit, max pods)
placement        pods spread over zones, first-fit decreasing onto nodes
cost             the one cost model: nodes, spare, add-ons, burst, control plane, per million
whatif           several workloads packed onto node types or a mix of pools
shapes           the pod-shape sweep: each framework's cheapest measured shape per node type
claims           the reference article's claims against the measured figures
analysis         the composition of all of the above for one measurements file
"""

from capacity.model.allocatable import NodeAllocatable, node_allocatable
from capacity.model.analysis import Analysis, AnalysisSettings, Comparison, SeriesAnalysis, analyse
from capacity.model.capacity_at_slo import PodCapacity, Slo, capacity_at_slo
from capacity.model.claims import ClaimCheck, check_claims
from capacity.model.cost import (
    HOURS_PER_MONTH,
    NODES_ONLY,
    BuyingOptions,
    ClusterCost,
    CostEstimate,
    cheapest,
    estimate_cost,
    price_cluster,
)
from capacity.model.derivation import Figure
from capacity.model.fit import NodeFit, PodShape, pods_per_node
from capacity.model.rightsizing import Margins, RightSizing, right_size
from capacity.model.shapes import ShapeChoice, ShapeOption, cheapest_shape, shape_choices
from capacity.model.whatif import PlanOption, WhatIfPlan, Workload, plan_workloads

__all__ = [
    "HOURS_PER_MONTH",
    "NODES_ONLY",
    "Analysis",
    "AnalysisSettings",
    "BuyingOptions",
    "ClaimCheck",
    "ClusterCost",
    "Comparison",
    "CostEstimate",
    "Figure",
    "Margins",
    "NodeAllocatable",
    "NodeFit",
    "PlanOption",
    "PodCapacity",
    "PodShape",
    "RightSizing",
    "SeriesAnalysis",
    "ShapeChoice",
    "ShapeOption",
    "Slo",
    "WhatIfPlan",
    "Workload",
    "analyse",
    "capacity_at_slo",
    "cheapest",
    "cheapest_shape",
    "check_claims",
    "estimate_cost",
    "node_allocatable",
    "plan_workloads",
    "pods_per_node",
    "price_cluster",
    "right_size",
    "shape_choices",
]
