"""UI labels: one catalogue, Chinese by default, English available."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "app_title": {"zh": "执法一张图", "en": "Enforcement OneMap"},
    "overview": {"zh": "总览", "en": "Overview"},
    "language": {"zh": "语言", "en": "Language"},
    "townships": {"zh": "镇街", "en": "Townships"},
    "cases": {"zh": "案件", "en": "Cases"},
    "no_data": {"zh": "数据库尚未初始化：请运行 `python -m geo init`。",
                "en": "The database is not initialised: run `python -m geo init`."},
    "code": {"zh": "编码", "en": "Code"},
    "name": {"zh": "名称", "en": "Name"},
    "open_cases": {"zh": "在办案件", "en": "Open cases"},
    "case_id": {"zh": "案件号", "en": "Case"},
    "opened_at": {"zh": "发生时间", "en": "Opened"},
    "status": {"zh": "状态", "en": "Status"},
    "township": {"zh": "镇街", "en": "Township"},
    "unit": {"zh": "单元", "en": "Unit"},
    "body": {"zh": "责任主体", "en": "Responsible body"},
    "matter": {"zh": "事项", "en": "Matter"},
    "flags": {"zh": "标记", "en": "Flags"},
    "reasons": {"zh": "归属理由", "en": "Routing reasons"},
    "filter_township": {"zh": "按镇街筛选", "en": "Filter by township"},
    "all": {"zh": "全部", "en": "All"},
    "layers_source": {"zh": "图层来源", "en": "Layer source"},
}

LANGUAGES = {"zh": "中文", "en": "English"}


def t(key: str, lang: str = "zh") -> str:
    """The label for ``key`` in ``lang`` (falls back to Chinese, then the key)."""
    entry = LABELS.get(key, {})
    return entry.get(lang) or entry.get("zh") or key
