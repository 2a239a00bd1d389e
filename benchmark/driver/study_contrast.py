"""The check of a study file's `contrast:` (its primary comparison's two cells; report/contrast.py
shows them), on its own so that both readers of study files, the driver's (grid.py) and the report's
(report/load.py), refuse the same files without the report loading torch."""
from __future__ import annotations


def contrast_problem(raw: dict) -> str | None:
    """What is wrong with the study file's `contrast:` (the two cells of its primary comparison, by
    their label on every axis), or None. The study's loader (driver/grid.py) and the report's both
    refuse a file where this is not None."""
    contrast = raw.get("contrast")
    if contrast is None:
        return None
    labels = {str(axis): {str(v) for v in values} for axis, values in (raw.get("axes") or {}).items()}
    for entry in raw.get("extra") or []:
        for axis, label in (entry.get("axes") or {}).items():
            labels.setdefault(str(axis), set()).add(str(label))
    if not isinstance(contrast, dict) or set(contrast) != {"control", "treatment"}:
        return ("`contrast` names two cells, {control: {axis: label, …}, treatment: {axis: label, …}}, "
                f"not {contrast!r}")
    for role, arm in contrast.items():
        if not isinstance(arm, dict) or {str(a) for a in arm} != set(labels):
            return f"`contrast.{role}` must give a label for every axis ({', '.join(labels)}), not {arm!r}"
        for axis, label in arm.items():
            if str(label) not in labels[str(axis)]:
                return (f"`contrast.{role}.{axis}`: {label!r} is not one of that axis's labels "
                        f"({', '.join(sorted(labels[str(axis)]))})")
    if contrast["control"] == contrast["treatment"]:
        return "`contrast`: control and treatment name the same cell"
    return None
