"""Adapters to other continual-learning frameworks; each module imports its framework (an extra) on import."""
