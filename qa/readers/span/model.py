"""The span reader's network in numpy (inference only)."""

from typing import Any

ATTRIBUTION = (
    "Trained on CMRC 2018 (trial and dev; Cui et al. 2019, CC BY-SA 4.0, https://github.com/ymcui/cmrc2018) "
    "and DRCD (dev; Shao et al. 2018, Delta Research Center, CC BY-SA 3.0, "
    "https://github.com/DRCKnowledgeTeam/DRCD). The weights are shared under CC BY-SA 4.0."
)


def export_metadata(config: dict[str, Any], threshold: float, training: dict[str, Any]) -> dict[str, Any]:
    return {"config": config, "threshold": threshold, "training": training, "attribution": ATTRIBUTION}
