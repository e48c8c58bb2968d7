"""Numbers as results.json states them: an int stays an int (`0`, not `0.0`), with its bounds.

These are `Annotated` types: to mypy and at runtime they are `int | float`; only pydantic reads
the bounds, when it serialises a value into results.json and generates the JSON Schema
(capacity/report/schema.py). The model's and the catalog's dataclasses use them for the fields
results.json publishes as they are, so each concept has one definition.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WithJsonSchema

Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
NonNegative = Annotated[int | float, Field(ge=0), WithJsonSchema({"type": "number", "minimum": 0})]
Positive = Annotated[
    int | float, Field(gt=0), WithJsonSchema({"type": "number", "exclusiveMinimum": 0})
]
Share = Annotated[  # a share of a whole, 0..1
    int | float, Field(ge=0, le=1), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})
]
PositiveShare = Annotated[  # a share that cannot be 0: 0 < x <= 1
    int | float,
    Field(gt=0, le=1),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
]
Fraction = Annotated[  # a part held back, less than the whole: 0 <= x < 1
    int | float,
    Field(ge=0, lt=1),
    WithJsonSchema({"type": "number", "minimum": 0, "exclusiveMaximum": 1}),
]
