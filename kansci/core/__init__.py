"""The KAN itself, tensors only: B-spline bases (:mod:`.spline`, compiled CPU kernel in :mod:`.spline_kernel`), the
layer (:mod:`.layer`) and the model (:mod:`.model`). Nothing here knows about files, YAML, terminals or formulas."""
