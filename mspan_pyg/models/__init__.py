from mspan_pyg.models.mspan import MSPAN, STRUCTURES

__all__ = ["MSPAN", "STRUCTURES"]
