from mspan_pyg.models.mspan import MSPAN, STRUCTURES, TASKS

__all__ = ["MSPAN", "STRUCTURES", "TASKS"]
