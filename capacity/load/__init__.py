"""Load: the Locust profiles, the step plan, and the driver that talks to a Locust master."""
