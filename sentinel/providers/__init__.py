"""Image providers: one adapter per provider, the routes from a task to its models, and the cooldowns."""
