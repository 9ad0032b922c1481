"""Cleaning of model outputs, on hand-written cases."""

import pytest

from analysis.generate.clean import clean_output


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('Sure, here is the rewritten text:\n\n"Paris is the capital of France."', "Paris is the capital of France."),
        ("Certainly! Rewritten text: The cat sat near the door.\n\nI hope this helps!", "The cat sat near the door."),
        (
            "Here is one possible example of a new text about Geography:\n\nThe Nile flows north.",
            "The Nile flows north.",
        ),
        ("Paraphrase: A short text about maths.", "A short text about maths."),
        ("1. The Nile flows north through Africa.", "The Nile flows north through Africa."),
        ("“The Nile flows north through Africa.”", "The Nile flows north through Africa."),
        ("St. Louis had 301,578 people. The text has been reworded to be concise.", "St. Louis had 301,578 people."),
        ("The  river\n\nflows   north to the sea.", "The river flows north to the sea."),
        # text that only looks like a preamble is kept
        ("Great Britain is an island in the North Atlantic.", "Great Britain is an island in the North Atlantic."),
        ("Here the river turns west towards the sea.", "Here the river turns west towards the sea."),
    ],
)
def test_preambles_quotes_numbering_and_trailers_are_stripped(raw, expected):
    cleaned = clean_output(raw)
    assert cleaned.rejected is None
    assert cleaned.text == expected


@pytest.mark.parametrize(
    "raw, options, reason",
    [
        ("   ", {}, "empty"),
        ("Sure!", {}, "empty"),
        ("Too short.", {}, "too short"),
        ("word " * 600, {}, "too long"),
        ("A long answer that was cut off in the mid", {"finish_reason": "length"}, "truncated"),
        ("The cat sat on the mat.", {"prompt_text": "The cat  sat on the mat."}, "copy of the input"),
    ],
)
def test_unusable_outputs_are_rejected_with_a_reason(raw, options, reason):
    assert clean_output(raw, **options).rejected == reason


def test_a_prompt_echo_is_cut():
    source = "The cat sat on the mat."
    assert clean_output(source + " A feline rested on the rug by the door.", prompt_text=source).text == (
        "A feline rested on the rug by the door."
    )
