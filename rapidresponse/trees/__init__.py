"""Trees and layers: who is alerted in what order (pure; loaded from TREES_FILE)."""

from rapidresponse.trees.model import Layer, Tree, TreeConfigError, Trees, load_trees

__all__ = ["Layer", "Tree", "TreeConfigError", "Trees", "load_trees"]
