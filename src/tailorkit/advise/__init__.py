"""`tailor advise`: pilot base, retrieval, fine-tuning and both on the project's rows, and recommend one.

Lives above train/ and evaluate/ (it uses both), so neither has to import the other.
"""
from .pilot import AdviseResult, advise

__all__ = ["AdviseResult", "advise"]
