"""babilong: long-context benchmark generation, evaluation and recurrent-memory baselines."""

__version__ = "0.1.0"
