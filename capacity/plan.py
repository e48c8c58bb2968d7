"""The measurement plan: frameworks x scenarios x load steps, the SLO and the pod shape.

Built from defaults, then the `--quick` preset, then a YAML plan file, then explicit CLI flags
(each later source wins), and validated once here so a bad value is reported, with what is
accepted, before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from capacity.errors import ConfigError
from capacity.frameworks import REFERENCE, Framework
from capacity.load.scenarios import DEFAULT_SCENARIOS, QUICK_SCENARIOS, SCENARIOS
from capacity.load.steps import scenario_estimate_s
from capacity.pod_shape import PodShape, SweepShape
from capacity.quantity import (
    MIB,
    CpuQuantity,
    MemoryQuantity,
    cpu_at_least,
    memory_at_least,
)
from capacity.validation import describe_validation_error

# A measured pod's smallest shape: less cannot serve a request, or start a Python server.
PodCpu = Annotated[CpuQuantity, AfterValidator(cpu_at_least(10, "too little to serve a request"))]
PodMemory = Annotated[
    MemoryQuantity, AfterValidator(memory_at_least(64 * MIB, "a Python server needs more to start"))
]

QUICK_PRESET: dict[str, Any] = {
    "scenarios": list(QUICK_SCENARIOS),
    "rounds": 1,
    "grid_ratio": 1.08,  # a smoke test: 8% steps find a bracket in fewer steps than 4%
    "step_duration_s": 6.0,
    "settle_s": 1.5,
    "warmup_s": 4.0,
    "max_probes": 6,
}


class Plan(BaseModel):
    """Everything a capacity run needs to know; field descriptions double as documentation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frameworks: list[Framework] = Field(
        default_factory=lambda: list(REFERENCE), min_length=1, description="frameworks to measure"
    )
    scenarios: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SCENARIOS), min_length=1,
        description=f"scenarios, from: {', '.join(SCENARIOS)}",
    )  # fmt: skip
    replicas: int = Field(1, ge=1, le=16, description="pods per framework")
    cpu: PodCpu = Field("500m", description="CPU limit (= request) per pod, Kubernetes notation")
    memory: PodMemory = Field("512Mi", description="memory limit (= request) per pod")
    workers: int | None = Field(None, ge=1, le=64, description="server processes per pod")
    threads: int | None = Field(None, ge=1, le=256, description="threads per worker (Django)")
    slo_p95_ms: float = Field(100.0, gt=0, le=60_000, description="p95 latency SLO, ms")
    error_budget: float = Field(0.01, ge=0, lt=1, description="error ratio budget (0.01 = 1%)")
    # Every step starts drained (nothing in flight, the pods idle), so the settle only covers
    # the arrivals' start; 1.5 s (was 2) and a 4 s warm-up (was 5) pay for the second round.
    step_duration_s: float = Field(
        7.5, ge=4, le=600, description="seconds per load step, settle period included"
    )
    settle_s: float = Field(1.5, ge=1, le=60, description="excluded start of each step, s")
    warmup_s: float = Field(4.0, ge=3, le=600, description="saturating warm-up per search, s")
    grid_base_rps: float = Field(5.0, gt=0, le=10_000, description="r_0 of the rate grid, req/s")
    # 4% steps: near the knee a step's late share is bimodal (the queue keeps up, or it never
    # drains), so the fitted crossing sits next to the highest passing rate and the grid step is
    # the answer's resolution. Not the whole story: six runs at 4% still spread 18% (a slow fresh
    # process moves a run), three at 8% 16% (2026-12-07, docs/local-run.md).
    grid_ratio: float = Field(
        1.04, gt=1, le=2, description="r_k = r_0 x ratio^k: the grid (and interval) resolution"
    )
    # The knee lay at 0.80-1.04 of the warm-up's ceiling in all 18 series of three runs
    # (2026-12-07); from 0.6 the first two steps passed every time and told nothing.
    start_fraction: float = Field(
        0.8, gt=0, le=2, description="the search starts at this share of the warm-up ceiling"
    )
    stride: int = Field(4, ge=1, le=20, description="grid steps per climb/descend move")
    max_probes: int = Field(
        8, ge=2, le=100, description="most steps per framework x scenario in the first round"
    )
    rounds: int = Field(
        5, ge=1, le=20,
        description="times each search runs, on fresh pod processes (a later one starts at the "
        "bracket)",
    )  # fmt: skip
    time_budget_s: float | None = Field(
        540, ge=60, le=86_400,
        description="measuring time after which no later round starts, s (a round takes about "
        "the longest one before it); 540 keeps `make report` within 10 minutes; null: no limit",
    )  # fmt: skip
    later_round_probes: int = Field(
        4, ge=2, le=100,
        description="most steps per framework x scenario in a later round (it stops at its own "
        "one-step bracket, usually after 2)",
    )  # fmt: skip
    cap_s: float = Field(
        2.0, ge=1, le=60, description="in-flight cap = offered req/s x this (at least min_cap)"
    )
    min_cap: int = Field(32, ge=1, le=10_000, description="smallest in-flight cap")
    warmup_cap_per_pod: int = Field(
        32, ge=1, le=1000, description="in flight per pod during the saturating warm-up"
    )
    seed: int = Field(1, ge=0, le=2**31 - 1, description="base seed of the arrival sequences")
    generator_saturation: float = Field(
        0.8, gt=0, le=1, description="a Locust process above this share of a core saturates"
    )
    locust_workers: int = Field(1, ge=1, le=16, description="Locust worker processes")
    scrape_interval_s: int = Field(1, ge=1, le=15, description="Prometheus scrape interval, s")
    upstream_delay_ms: int = Field(50, ge=0, le=2000, description="delay of the upstream stub")
    cpu_n: int = Field(2000, ge=1, le=100_000, description="hash rounds per /api/cpu request")
    prometheus_port: int | None = Field(None, ge=1, le=65535, description="pin Prometheus' port")
    locust_port: int | None = Field(None, ge=1, le=65535, description="pin Locust's web port")

    @field_validator("scenarios")
    @classmethod
    def _known_scenarios(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SCENARIOS]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"unknown scenario(s) {names}; accepted: {', '.join(SCENARIOS)}")
        return list(dict.fromkeys(value))

    @field_validator("frameworks")
    @classmethod
    def _unique_frameworks(cls, value: list[Framework]) -> list[Framework]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _settle_inside_step(self) -> Plan:
        if self.settle_s >= self.step_duration_s - 2 * self.scrape_interval_s:
            raise ValueError(
                f"step_duration_s {self.step_duration_s:g} leaves no measuring window after the "
                f"{self.settle_s:g} s settle period and two scrapes; use at least "
                f"{self.settle_s + 2 * self.scrape_interval_s + 1:g} s"
            )
        if self.warmup_s < self.settle_s + 2 * self.scrape_interval_s:
            raise ValueError(
                f"warmup_s {self.warmup_s:g} is shorter than the settle period plus two scrapes"
            )
        return self

    # -- derived values ----------------------------------------------------------------------

    def pod_shape(self) -> PodShape:
        return PodShape.of(self.cpu, self.memory, self.workers, self.threads)

    @property
    def cpu_millicores(self) -> int:
        return self.pod_shape().cpu_millicores

    @property
    def memory_bytes(self) -> int:
        return self.pod_shape().memory_bytes

    @property
    def window_s(self) -> int:
        """The rate window of a step: the step minus its settle period, whole seconds."""
        return int(self.step_duration_s - self.settle_s)

    def expected_steps(self) -> int:
        """A typical first search (two moves, two bisections, two confirmations and an
        extension), then each later round's few steps next to the bracket."""
        return min(self.max_probes, 7) + (self.rounds - 1) * min(self.later_round_probes, 3)

    def scenario_estimate_s(self) -> float:
        """Expected wall time of one framework x scenario (for the ETA)."""
        return scenario_estimate_s(
            # Every round warms its (fresh) pods up before its search.
            warmup_s=(self.warmup_s + 2 * self.scrape_interval_s) * self.rounds,
            # Each step ends with a short tail while its last requests and scrape come in.
            step_duration_s=self.step_duration_s + self.scrape_interval_s + 0.7,
            expected_steps=self.expected_steps(),
        )

    @property
    def settle_then_window(self) -> str:
        return f"{self.settle_s:g} s settle + {self.window_s} s measured"

    def combos(self) -> list[tuple[str, str]]:
        return [(fw, sc) for fw in self.frameworks for sc in self.scenarios]


def _split_list(value: Any) -> Any:
    """`--frameworks django,fastapi` and YAML lists both become lists."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def read_plan_file(path: Path) -> dict[str, Any]:
    """The YAML plan as a mapping (validated later with everything else)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"plan file {path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read plan file {path}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"plan file {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"plan file {path} must be a mapping of plan keys, got {type(data).__name__}"
        )
    unknown = sorted(set(data) - set(Plan.model_fields))
    if unknown:
        raise ConfigError(
            f"plan file {path}: unknown key(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(Plan.model_fields)}"
        )
    return data


def field_default(name: str) -> Any:
    """A plan field's default: the CLI shows these, so they are written once, on `Plan`."""
    return Plan.model_fields[name].get_default(call_default_factory=True)


def build_plan(
    *,
    cli: Mapping[str, Any] | None = None,
    plan_file: Path | None = None,
    quick: bool = False,
    flags: Mapping[str, str] | None = None,
) -> Plan:
    """Defaults < --quick preset < plan file < explicit CLI flags (None means "not given").

    `flags` spells each `cli` key as the user typed it, so errors name it (`step_duration_s`:
    `--step-duration`); a key without one is named `--key-with-dashes`.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if quick:
        values.update(QUICK_PRESET)
        sources.update(dict.fromkeys(QUICK_PRESET, "--quick"))
    if plan_file is not None:
        from_file = read_plan_file(plan_file)
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, f"plan file {plan_file}"))
    for key, value in (cli or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = (flags or {}).get(key, f"--{key.replace('_', '-')}")
    for key in ("frameworks", "scenarios"):
        if key in values:
            values[key] = _split_list(values[key])
    try:
        return Plan.model_validate(values)
    except ValidationError as e:
        raise ConfigError(
            "invalid plan: " + describe_validation_error(e, sources=sources, whole="plan")
        ) from e


def sweep_plans(plan: Plan, shapes: tuple[SweepShape, ...]) -> list[Plan]:
    """One plan per shape of a `--pod-shapes` sweep: the plan with that CPU limit and workers
    (derived from the CPU, as for --cpu alone, when the shape gives none)."""
    plans = []
    for shape in shapes:
        try:
            plans.append(
                Plan.model_validate(
                    plan.model_dump() | {"cpu": shape.cpu, "workers": shape.workers}
                )
            )
        except ValidationError as e:
            raise ConfigError(
                f"--pod-shapes {shape}: "
                + describe_validation_error(
                    e, sources=dict.fromkeys(("cpu", "workers"), "--pod-shapes"), whole="plan"
                )
            ) from e
    return plans
