"""Test suite; a package so that tests/<area>/ packages never shadow the kit's own modules."""
