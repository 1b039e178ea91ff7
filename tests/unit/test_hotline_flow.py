"""The hotline's step machine (pure): keys and silence to the next step, in the caller's language."""

from __future__ import annotations

import pytest

from rapidresponse.hotline import flow
from rapidresponse.hotline.flow import AfterRecording, Gather, Hangup, Menu, Record, Step

MENU = Menu(keys={"1": "ice", "2": "eviction", "3": "copwatch"}, default_tree="ice")


def keys_of(answer: Gather) -> list[str]:
    return [line.params["digit"] for line in answer.prompts if line.key == "hotline.menu_item"]


def test_the_menu_lists_each_tree_by_key_and_offers_the_other_language():
    """English menu: trees in key order, star, then the Spanish offer spoken in Spanish."""
    answer = flow.menu(MENU, "en")
    assert keys_of(answer) == ["1", "2", "3"]
    assert answer.prompts[-1].key == "hotline.switch_language" and answer.prompts[-1].language == "es"
    assert answer.step == Step.MENU and answer.query == {"miss": "0", "play": "1"}


@pytest.mark.parametrize(("digits", "tree"), [("1", "ice"), ("2", "eviction"), ("3", "copwatch"), ("2#", "eviction")])
def test_a_tree_key_records_into_that_tree(digits, tree):
    """Each tree's key leads to its recording."""
    answer = flow.pressed(MENU, digits, "es", misses=0, plays=1)
    assert isinstance(answer, Record) and answer.tree == tree and answer.language == "es"


def test_nine_switches_language_without_counting_a_miss():
    """9 replays the menu in Spanish (and from Spanish, in English)."""
    spanish = flow.pressed(MENU, "9", "en", misses=1, plays=1)
    assert isinstance(spanish, Gather) and spanish.language == "es" and spanish.query["miss"] == "1"
    english = flow.pressed(MENU, "9", "es", misses=0, plays=2)
    assert isinstance(english, Gather) and english.language == "en"


@pytest.mark.parametrize("digits", ["", "7", "0", "#", "abc"])
def test_a_miss_repeats_once_then_records_into_the_default_tree(digits):
    """A wrong key or none: sorry and the menu again; the second time, record anyway."""
    again = flow.pressed(MENU, digits, "en", misses=0, plays=1)
    assert isinstance(again, Gather) and again.prompts[0].key == "hotline.not_understood"
    assert again.query["miss"] == "1"
    anyway = flow.pressed(MENU, digits, "en", misses=1, plays=2)
    assert isinstance(anyway, Record) and anyway.tree == "ice"
    assert anyway.prompts[0].key == "hotline.record_anyway"


def test_star_repeats_but_not_forever():
    """* replays the menu; after MAX_PLAYS the caller is recorded anyway."""
    assert isinstance(flow.pressed(MENU, "*", "en", misses=0, plays=1), Gather)
    assert isinstance(flow.pressed(MENU, "*", "en", misses=0, plays=flow.MAX_PLAYS), Record)


@pytest.mark.parametrize(("duration", "digits", "attempt", "expected"), [
    (34, "#", 1, AfterRecording.REPORT),
    (3, "hangup", 1, AfterRecording.REPORT),
    (2, "hangup", 1, AfterRecording.MISSED),
    (0, "hangup", 2, AfterRecording.MISSED),
    (0, "#", 1, AfterRecording.AGAIN),
    (1, "", 2, AfterRecording.REPORT),
])  # fmt: skip
def test_what_a_finished_recording_means(duration, digits, attempt, expected):
    """Over 2 s is a report even after a hang-up; silence on the line gets one more try."""
    assert flow.after_recording(duration, digits, attempt) == expected


def test_the_code_is_read_letter_by_letter_twice():
    """K7 is read 'K, 7' in a sentence that says it twice, then the call ends."""
    answer = flow.reported("K7", "en", someone_alerted=True)
    assert isinstance(answer, Hangup)
    assert answer.prompts[0].text().count("K, 7") == 2
    assert flow.spell("ab12") == "A, B, 1, 2"


@pytest.mark.parametrize(("raw", "withheld"), [
    ("+266696687", True), ("+7378742833", True), ("+2562533", True), ("+8656696", True),
    ("anonymous", True), ("Anonymous", True), ("", True), ("restricted", True), ("+12125550150", False),
])  # fmt: skip
def test_withheld_caller_ids(raw, withheld):
    """Twilio's special numbers and the words for a hidden caller ID are withheld."""
    assert flow.is_withheld(raw) is withheld


def test_odd_query_values_read_as_defaults():
    """A language or counter no step of ours wrote is English / the default, never an error."""
    assert flow.language_of("xx") == "en" and flow.language_of("ES") == "es" and flow.language_of(None) == "en"
    assert flow.count("abc") == 0 and flow.count("-1", 1) == 1 and flow.count("999999") == 0
    assert flow.count("3") == 3


def test_codes_typed_on_the_keypad_match_open_codes():
    """K7 is typed 57; only codes with those keys match."""
    assert flow.keypad("K7") == "57" and flow.keypad("ab23") == "2223"
    assert flow.matching_codes("57#", ["K7", "M7", "L7", "AB23"]) == ["K7", "L7"]
    assert flow.matching_codes("", ["K7"]) == []


TARGET = flow.Target(id=4, code="K7", tree="ice", status="reported", minutes_ago=5)


@pytest.mark.parametrize(("digits", "decision"), [("1", flow.Decision.CONFIRM), ("2", flow.Decision.FALSE_ALARM),
                                                  ("3", flow.Decision.RESOLVE)])
def test_coordinator_keys_decide_on_the_incident(digits, decision):
    """1 confirms, 2 stands down, 3 resolves the incident the menu named."""
    choice = flow.coordinator_pressed(digits, TARGET, "en", plays=1)
    assert choice == flow.Decide(decision, 4, "en")


def test_coordinator_menu_other_keys():
    """0 reports like any caller, 4 asks for a code, anything else repeats; no open incident: no decisions."""
    assert flow.coordinator_pressed("0", TARGET, "en", plays=1) == flow.Report("en")
    code = flow.coordinator_pressed("4", TARGET, "en", plays=1)
    assert isinstance(code, Gather) and code.step == Step.CODE and code.finish_on_key == "#"
    again = flow.coordinator_pressed("1", None, "en", plays=1)
    assert isinstance(again, Gather) and again.step == Step.COORDINATOR
    assert flow.coordinator_pressed("", TARGET, "en", plays=flow.MAX_PLAYS) == flow.Report("en")
    menu = flow.coordinator_menu(TARGET, "es")
    assert menu.query["incident"] == "4" and "K, 7" in menu.prompts[1].text()


def test_9_switches_the_coordinator_menu_to_the_other_language():
    """The coordinator menu offers the other language on 9, like the caller's; 9 replays it there."""
    english = flow.coordinator_menu(TARGET, "en")
    assert english.prompts[-1] == flow.Say("hotline.switch_language", "es")
    spanish = flow.coordinator_pressed("9", TARGET, "en", plays=1)
    assert isinstance(spanish, Gather) and spanish.language == "es" and spanish.step == Step.COORDINATOR
    assert spanish.query == {"play": "2", "incident": "4"}
    assert all(p.language == "es" for p in spanish.prompts[:-1])
    assert spanish.prompts[-1] == flow.Say("hotline.switch_language", "en")
    back = flow.coordinator_pressed("9", None, "es", plays=2)
    assert isinstance(back, Gather) and back.language == "en" and "incident" not in back.query


@pytest.mark.parametrize(("status", "english", "spanish"), [
    ("reported", "waiting for a verifier", "esperando a un verificador"),
    ("confirmed", "confirmed", "confirmado"),
    ("resolved", "resolved", "resuelto"),
    ("false_alarm", "stood down as a false alarm", "cancelado como falsa alarma"),
    ("drill", "closed as a drill", "cerrado como simulacro"),
])
def test_every_status_is_said_in_the_menus_language(status, english, spanish):
    """An incident named by the menu may have closed since: its status is still said in the language."""
    assert flow.status_label(status, "en") == english and flow.status_label(status, "es") == spanish
    assert flow.status_label("some_new_status", "es") == "some new status"


def test_a_decision_is_read_back():
    """The result of the keypress is said, with the code letter by letter."""
    assert "K, 7 is confirmed" in flow.decided(flow.Decision.CONFIRM, True, "K7", "en").prompts[0].text()
    assert "already closed" in flow.decided(flow.Decision.RESOLVE, False, "K7", "en", closed=True).prompts[0].text()
