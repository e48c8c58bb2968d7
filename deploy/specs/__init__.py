"""Pure builders the components share, one module per kind of thing built: they take narrow
values (names, ports, quantities) and return manifest dicts or pulumi_kubernetes Args, and create
no resource - so tests call them directly and compare with what the program registered.
deploy/resources.py registers objects from them.
"""
