"""geo.app.wording: refusals and audit entries in the user's language."""

from types import SimpleNamespace

import pytest

from geo.access import AccessDeniedError
from geo.app.wording import Names, describe, error_text
from geo.cases import IllegalTransitionError, check_team_transition, check_transition
from geo.store.dispatching import ConflictError

NAMES = Names(bodies={"CC": "指挥中心", "DT-SC": "区市场监管执法队"},
              townships={"330502100000": "织里镇"}, teams={"T1": "一中队"})


def refusal(fn, *args, **kwargs) -> IllegalTransitionError:
    with pytest.raises(IllegalTransitionError) as err:
        fn(*args, **kwargs)
    return err.value


@pytest.mark.parametrize(("exc", "zh", "en"), [
    (refusal(check_transition, "handling", "dispatched"),
     "「处置中」的案件不能转为「已派遣」；可转为：责令整改、已办结、已退回。",
     "A case that is Handling cannot become Dispatched; allowed: Rectification ordered, "
     "Closed, Returned."),
    (refusal(check_transition, "closed", "routed"), "可转为：无（已是最终状态）",
     "allowed: none (final state)"),
    (refusal(check_transition, "routed", "dispatched", "bigdata"),
     "来自「大数据吹哨」的线索须先核查确认", "Alerts from Big-data platform must be verified"),
    (refusal(check_transition, "routed", "closed"), "不能转为「已办结」", "cannot become Closed"),
    (refusal(check_transition, "routed", "returned"), "转为「已退回」须填写理由",
     "Moving a case to Returned needs a reason"),
    (refusal(check_team_transition, "available", "on_scene"), "「待命」的队伍不能转为「到场」",
     "A team that is Available cannot become On scene"),
    (IllegalTransitionError("x", "lacks_skill", team="T1", domain="住房城乡建设", matter="M2"),
     "一中队（T1） 不具备该事项所需的「住房城乡建设」领域技能", "lacks the 住房城乡建设 skill"),
    (AccessDeniedError("planner may not change cases"), "您的角色不能进行此操作",
     "Your role may not do this"),
    (LookupError("no case 3"), "不存在或不在您的范围内", "does not exist or is not yours"),
    (ConflictError("case 3 was changed"), "刚刚已被他人修改", "Someone else changed this"),
])
def test_refusals_are_said_in_the_users_language(exc, zh, en):
    assert zh in error_text(exc, "zh", NAMES)
    assert en in error_text(exc, "en", NAMES)
    assert str(exc) not in error_text(exc, "zh", NAMES) or isinstance(exc, IllegalTransitionError)


def entry(action, before, after, detail, actor="d1"):
    return SimpleNamespace(action=action, from_state=before, to_state=after, detail=detail,
                           actor=actor)


@pytest.mark.parametrize(("e", "said"), [
    (entry("route", "new", "routed", '{"alert_id": 4}', "system"),
     "系统：新线索 → 已分拨，受理并分拨"),
    (entry("assign", "routed", "dispatched", '{"team": "T1"}'),
     "d1：已分拨 → 已派遣，派遣 一中队（T1）"),
    (entry("transition", "routed", "returned", '{"reason": "不属本单位", "body": "CC"}'),
     "d1：已分拨 → 已退回，退回 指挥中心，理由：不属本单位"),
    (entry("transition", "returned", "routed", '{"body": "DT-SC"}'),
     "d1：已退回 → 已分拨，改派至 区市场监管执法队"),
    (entry("transition", "routed", "transferred",
           '{"reason": "边界", "township": "330502100000", "body": "TC"}'),
     "d1：已分拨 → 已移交，移交 织里镇，理由：边界"),
    (entry("transition", "routed", "merged", '{"reason": "duplicate of case 7", "into": 7}'),
     "d1：已分拨 → 已合并，作为重复案件合并到 #7"),
    (entry("transition", "handling", "rectification", '{"days": 15}'),
     "d1：处置中 → 责令整改，限期 15 天整改"),
    (entry("recall", "dispatched", "routed", '{"team": "T1"}'),
     "d1：已派遣 → 已分拨，召回 一中队（T1），案件回到待派遣"),
    (entry("acknowledged", None, None, '{"severity": "high"}', "command"),
     "command：已确认预警"),
    # what the store wrote before details were JSON
    (entry("transition", "returned", "routed", "re-routed to DT-SC"),
     "d1：已退回 → 已分拨，改派至 区市场监管执法队"),
    (entry("transition", "routed", "merged", "duplicate of case 7"),
     "d1：已分拨 → 已合并，作为重复案件合并到 #7"),
    (entry("recall", "dispatched", "routed", "team T1 recalled"),
     "d1：已派遣 → 已分拨，召回 一中队（T1），案件回到待派遣"),
    (entry("transition", "routed", "returned", "不属本单位"),
     "d1：已分拨 → 已退回，理由：不属本单位"),
])
def test_audit_entries_read_as_sentences_with_names(e, said):
    assert describe(e, "zh", NAMES).replace("\\", "") == said


def test_outside_text_in_an_entry_stays_text():
    e = entry("transition", "routed", "returned", '{"reason": "**x** [a](b)"}', actor="<b>")
    out = describe(e, "zh", NAMES)
    assert "\\*\\*x\\*\\*" in out and "\\[a\\]\\(b\\)" in out and "\\<b\\>" in out


def test_an_acknowledgement_reads_in_english_too():
    e = entry("acknowledged", None, None, '{"severity": "high"}', "command")
    assert describe(e, "en", NAMES) == "command: acknowledged the alert"


def test_durations_read_as_people_say_them():
    from geo.app.wording import duration

    assert [duration(m, "zh") for m in (None, float("nan"), 0, 35.4, 60, 200, 1440, 3125)] == [
        "-", "-", "0 分钟", "35 分钟", "1 小时", "3 小时 20 分", "1 天", "2 天 4 小时"]
    assert duration(200, "en") == "3 h 20 min" and duration(-3, "en") == "0 min"


def test_who_acted_is_named_the_system_in_words_and_unknown_users_by_login():
    names = Names(users={"d1": "市场监管派遣员", "x*": "星*号"})
    said = describe(entry("acknowledged", None, None, "", "d1"), "zh", names)
    assert said.startswith("市场监管派遣员：")
    assert describe(entry("acknowledged", None, None, "", "system"), "zh", names).startswith(
        "系统：")
    assert describe(entry("acknowledged", None, None, "", "system"), "en", names).startswith(
        "System: ")
    assert names.user("demo") == "demo"  # no such user: the login name as it is
    assert names.user("x*") == "星\\*号"  # a name is outside text: escaped
