"""Structure-first discovery (AI-Feynman / KAN 2.0 style): decide a formula's structure on a trained differentiable
surrogate by autograd tests (:mod:`.structure`), optionally transform the target (:mod:`.transforms`), then solve the
remaining one- and two-variable pieces by exhaustive search over tiny expression trees (:mod:`.leaves`)."""
from kansci.discover.leaves import LeafCandidate, rounded, search_leaf
from kansci.discover.structure import (
    Decision,
    DecisionLog,
    additive_groups,
    additive_separability,
    calibrated_tolerance,
    derivatives,
    multiplicative_groups,
    multiplicative_separability,
    single_combination,
    symmetry,
)
from kansci.discover.transforms import LogAbs, Reciprocal, Sqrt, Square, TargetTransform, candidate_transforms

__all__ = [
    "Decision", "DecisionLog", "LeafCandidate", "LogAbs", "Reciprocal", "Sqrt", "Square", "TargetTransform",
    "additive_groups", "additive_separability", "calibrated_tolerance", "candidate_transforms", "derivatives",
    "multiplicative_groups", "multiplicative_separability", "rounded", "search_leaf", "single_combination", "symmetry",
]
