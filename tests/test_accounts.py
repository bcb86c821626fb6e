"""Users, sources, API tokens and the app's sign-ins in the store, on SQLite and PostGIS."""

import datetime as dt

import pytest
from sqlalchemy import select, update

from geo import store
from geo.access import SYSTEM, Scope
from geo.cli import main
from geo.store import accounts
from geo.store.models import SignIn


@pytest.fixture
def engine(store_settings, small_dirs):
    layers_dir, catalog_dir = small_dirs
    assert main(["init", "--layers", str(layers_dir), "--catalog", str(catalog_dir)],
                store_settings) == 0
    return store.connect(store_settings.database_url)


def test_token_holder_is_the_active_user_or_source_of_the_token(engine):
    accounts.add_user(engine, "boss", "Boss", "command", scope=SYSTEM)
    user_token = accounts.issue_user_token(engine, "boss", scope=SYSTEM)
    source_token = accounts.add_source(engine, "12345", "热线", "50/minute", "gcj02", scope=SYSTEM)
    held = accounts.token_holder(engine, user_token)
    assert held.source is None and held.scope == Scope("command", actor="boss")
    held = accounts.token_holder(engine, source_token)
    assert (held.scope, held.source, held.crs, held.rate_limit) == (
        None, "12345", "gcj02", "50/minute")
    assert accounts.token_holder(engine, "no such token") is None
    # a renewed token: the old one is refused at once, the new one works
    renewed = accounts.issue_user_token(engine, "boss", scope=SYSTEM)
    assert accounts.token_holder(engine, user_token) is None
    assert accounts.token_holder(engine, renewed).scope.actor == "boss"
    again = accounts.add_source(engine, "12345", "热线", scope=SYSTEM)
    assert accounts.token_holder(engine, source_token) is None
    assert accounts.token_holder(engine, again).source == "12345"


def test_disabled_users_and_sources_hold_no_token_until_enabled(engine):
    accounts.add_user(engine, "boss", "Boss", "command", password="boss-password", scope=SYSTEM)
    token = accounts.issue_user_token(engine, "boss", scope=SYSTEM)
    source_token = accounts.add_source(engine, "12345", "热线", scope=SYSTEM)
    accounts.set_user_active(engine, "boss", False, scope=SYSTEM)
    accounts.set_source_active(engine, "12345", False, scope=SYSTEM)
    assert accounts.token_holder(engine, token) is None
    assert accounts.token_holder(engine, source_token) is None
    assert accounts.get_user(engine, "boss") is None
    assert accounts.sign_in_with_password(engine, "boss", "boss-password") is None
    # updating a disabled user does not enable them
    accounts.add_user(engine, "boss", "The boss", "command", scope=SYSTEM)
    assert accounts.token_holder(engine, token) is None
    accounts.set_user_active(engine, "boss", True, scope=SYSTEM)
    assert accounts.token_holder(engine, token).scope.actor == "boss"
    assert accounts.sign_in_with_password(engine, "boss", "boss-password").name == "The boss"
    # renewing a source's token enables it again
    renewed = accounts.add_source(engine, "12345", "热线", scope=SYSTEM)
    assert accounts.token_holder(engine, renewed).source == "12345"


def test_deleted_users_and_sources_are_gone_with_their_tokens(engine):
    accounts.add_user(engine, "boss", "Boss", "command", password="boss-password", scope=SYSTEM)
    token = accounts.issue_user_token(engine, "boss", scope=SYSTEM)
    accounts.open_sign_in(engine, "boss")
    source_token = accounts.add_source(engine, "12345", "热线", scope=SYSTEM)
    accounts.delete_user(engine, "boss", scope=SYSTEM)
    accounts.delete_source(engine, "12345", scope=SYSTEM)
    assert accounts.token_holder(engine, token) is None
    assert accounts.token_holder(engine, source_token) is None
    assert [u.username for u in accounts.list_users(engine, scope=SYSTEM)] == []
    assert accounts.list_sources(engine, scope=SYSTEM) == []
    with store.sessions(engine)() as s:
        assert s.scalars(select(SignIn)).all() == []
    for change in (lambda: accounts.delete_user(engine, "boss", scope=SYSTEM),
                   lambda: accounts.set_user_active(engine, "boss", True, scope=SYSTEM),
                   lambda: accounts.set_password(engine, "boss", "long enough", scope=SYSTEM),
                   lambda: accounts.open_sign_in(engine, "boss")):
        with pytest.raises(LookupError, match="no user 'boss'"):
            change()
    for change in (lambda: accounts.delete_source(engine, "12345", scope=SYSTEM),
                   lambda: accounts.set_source_active(engine, "12345", False, scope=SYSTEM)):
        with pytest.raises(LookupError, match="no source '12345'"):
            change()


def test_a_sign_in_lasts_until_signed_out_disabled_or_a_new_password(engine):
    accounts.add_user(engine, "zhili", "织里", "township", township="330599001000",
                      password="zhili-password", scope=SYSTEM)
    assert accounts.sign_in_with_password(engine, "zhili", "wrong password") is None
    assert accounts.sign_in_with_password(engine, "nobody", "zhili-password") is None
    assert accounts.sign_in_with_password(engine, "zhili", "x" * 100) is None
    assert accounts.sign_in_with_password(engine, "zhili", "zhili-password").name == "织里"

    first, expires = accounts.open_sign_in(engine, "zhili")
    second, _ = accounts.open_sign_in(engine, "zhili")
    assert first != second and len(first) >= 40
    assert dt.timedelta(hours=23) < expires - store.utcnow() <= dt.timedelta(days=1)
    assert accounts.signed_in_user(engine, first).username == "zhili"
    assert accounts.signed_in_user(engine, "made up") is None
    assert accounts.signed_in_user(engine, None) is None
    with store.sessions(engine)() as s:  # only a hash of the cookie's value is stored
        assert {r.id_hash for r in s.scalars(select(SignIn))} == {
            accounts.hash_token(first), accounts.hash_token(second)}

    accounts.close_sign_in(engine, first)  # signing out ends that sign-in only
    assert accounts.signed_in_user(engine, first) is None
    assert accounts.signed_in_user(engine, second).username == "zhili"

    accounts.set_user_active(engine, "zhili", False, scope=SYSTEM)  # disabling ends all of them
    assert accounts.signed_in_user(engine, second) is None
    accounts.set_user_active(engine, "zhili", True, scope=SYSTEM)
    assert accounts.signed_in_user(engine, second) is None

    third, _ = accounts.open_sign_in(engine, "zhili")
    accounts.set_password(engine, "zhili", "a new password", scope=SYSTEM)  # so does a new password
    assert accounts.signed_in_user(engine, third) is None
    assert accounts.sign_in_with_password(engine, "zhili", "zhili-password") is None
    assert accounts.sign_in_with_password(engine, "zhili", "a new password") is not None
    with pytest.raises(ValueError, match="8 to 72 bytes"):
        accounts.set_password(engine, "zhili", "short", scope=SYSTEM)

    fourth, _ = accounts.open_sign_in(engine, "zhili")
    with store.sessions(engine).begin() as s:  # an expired sign-in signs no one in
        s.execute(update(SignIn).values(expires_at=store.utcnow() - dt.timedelta(seconds=1)))
    assert accounts.signed_in_user(engine, fourth) is None
    accounts.open_sign_in(engine, "zhili")  # and is cleared away by the next sign-in
    with store.sessions(engine)() as s:
        assert len(s.scalars(select(SignIn)).all()) == 1


def test_user_names_name_every_user_for_whoever_reads_cases(engine):
    accounts.add_user(engine, "boss", "值班长", "command", scope=SYSTEM)
    accounts.add_user(engine, "gone", "老王", "planner", scope=SYSTEM)
    accounts.set_user_active(engine, "gone", False, scope=SYSTEM)  # still named in timelines
    staff = Scope("township", township="330502100000", actor="t1")
    assert accounts.user_names(engine, scope=staff) == {"boss": "值班长", "gone": "老王"}
