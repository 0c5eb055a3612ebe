"""Picture reports: orthogonal slab views with pick circles, score histograms, workflow scores."""

from ._figures import picks_figure, plot_picks_report
from ._scores import plot_workflow_scores, workflow_scores_figure
from ._slabs import slab_views, stretch_contrast

__all__ = [
    "picks_figure",
    "plot_picks_report",
    "plot_workflow_scores",
    "slab_views",
    "stretch_contrast",
    "workflow_scores_figure",
]
