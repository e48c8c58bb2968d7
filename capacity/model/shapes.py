"""The pod-shape sweep: which measured pod shape (and how many of its pods) serves the target
load for the least money, per framework, scenario and node type.

Each shape's series is already priced by the one cost model (SeriesAnalysis.costs: one estimate
per node type, pods from that shape's capacity, packed with spare nodes, add-ons and burst); the
choice is `cost.cheapest` over those estimates, so nothing here packs or prices again. Ties go
to the smaller shape (the series come smallest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capacity.model.analysis import Analysis, SeriesAnalysis
from capacity.model.cost import CostEstimate, cheapest


@dataclass(frozen=True)
class ShapeOption:
    series: SeriesAnalysis
    cost: CostEstimate | None  # None: the shape has no capacity at the SLO, so no plan


@dataclass(frozen=True)
class ShapeChoice:
    framework: str
    scenario: str
    node_type: str
    options: tuple[ShapeOption, ...]  # one per measured shape, smallest first
    cheapest: ShapeOption | None  # None: no shape has a priced plan on this node type


def cheapest_shape(
    series: Sequence[SeriesAnalysis], node_type: str | None = None
) -> SeriesAnalysis | None:
    """Of one framework x scenario's series (one per shape), the one whose plan for the target
    load costs least: on `node_type`, else on its own cheapest node type."""
    if node_type is None:
        plans = [(s, s.cheapest) for s in series if s.cheapest is not None]
    else:
        plans = [(s, c) for s in series for c in s.costs if c.node_type == node_type]
    best = cheapest([c for _, c in plans])
    return next((s for s, c in plans if c is best), None)


def shape_choices(analysis: Analysis) -> tuple[ShapeChoice, ...]:
    """Per framework x scenario x node type, every shape's plan and the cheapest; nothing
    when one shape was measured (the report's sweep table then stays out)."""
    if len(analysis.shapes) < 2:
        return ()
    groups: dict[tuple[str, str], list[SeriesAnalysis]] = {}
    for s in analysis.series:
        groups.setdefault((s.framework, s.scenario), []).append(s)
    choices = []
    for (framework, scenario), series in groups.items():
        for node in analysis.nodes:
            name = node.node.name
            options = tuple(
                ShapeOption(s, next((c for c in s.costs if c.node_type == name), None))
                for s in series
            )
            best = cheapest_shape(series, name)
            choices.append(
                ShapeChoice(
                    framework,
                    scenario,
                    name,
                    options,
                    next((o for o in options if o.series is best), None),
                )
            )
    return tuple(choices)
