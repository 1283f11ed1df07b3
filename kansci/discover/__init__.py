"""Structure-first discovery (AI-Feynman / KAN 2.0 style): decide a formula's structure on a trained surrogate
(separability by swapping values, :mod:`.separability`; symmetry and single-combination shape by autograd,
:mod:`.structure`), optionally transform the target (:mod:`.transforms`), then solve the remaining one- and
two-variable pieces by exhaustive search over tiny expression trees (:mod:`.leaves`)."""
from kansci.discover.leaves import LeafCandidate, rounded, search_leaf
from kansci.discover.separability import additive_groups, multiplicative_groups, swap_statistics
from kansci.discover.structure import (
    Decision,
    DecisionLog,
    calibrated_tolerance,
    derivatives,
    single_combination,
    symmetry,
)
from kansci.discover.transforms import LogAbs, Reciprocal, Sqrt, Square, TargetTransform, candidate_transforms

__all__ = [
    "Decision", "DecisionLog", "LeafCandidate", "LogAbs", "Reciprocal", "Sqrt", "Square", "TargetTransform",
    "additive_groups", "calibrated_tolerance", "candidate_transforms", "derivatives", "multiplicative_groups",
    "rounded", "search_leaf", "single_combination", "swap_statistics", "symmetry",
]
