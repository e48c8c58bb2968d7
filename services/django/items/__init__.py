"""The one app: categories, items and orders, and the contract's endpoints over them."""
