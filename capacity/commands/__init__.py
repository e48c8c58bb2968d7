"""The `capacity` commands, one module each, loaded by capacity/cli.py only when used.

fit, model, whatif, catalog   the model's commands (node arithmetic, the report, what-if, prices)
report                        measure, then write the report; its stages live beside it:
  local_run                   pre-flight checks and the run on this machine
  cluster                     the checks and the run on a cluster (--stack, URLs)
  progress                    the live progress view
options                       the node and cost options fit/model/whatif share
common                        consoles, the one error-to-exit-code rule, the log display
"""
