"""The liveness check on real footage: a head that turns passes the asked turns, in the asked order, and
nothing else: not the way back from a turn, not a recording played backwards, not a recording of one
move where two are asked, and never a picture."""
from __future__ import annotations

import numpy as np
import pytest

from recognition.liveness.burst import check_burst
from recognition.liveness.excursions import turning_points
from recognition.liveness.judge import LIFT, MOVES, TURN, FrameLook, judge
from recognition.liveness.pose import HeadPose, pose_from_landmarks
from tests.conftest import load_photo
from tests.footage import (KIT_TURNING, held_up_frames, moves_footage, person, posed_frames, prompted, right_turn,
                           turning_frames)

STILLS = ["obama/obama1.jpg", "obama/obama2.jpg", "biden/biden2.jpg", "kit_harington/kit1.jpg",
          "rose_leslie/rose1.jpg", "alex_lacamoire/alex1.jpg", "lin_manuel_miranda/lin1.png"]


@pytest.fixture(scope="module")
def turning():
    return turning_frames()


def test_a_head_turning_in_the_clip_passes_the_turn_it_makes(turning, analyzer, pose_model):
    check = check_burst(turning, MOVES["right"], analyzer, pose_model)
    assert check.passed, check.reason
    assert check.verdict.moved >= TURN
    assert check.alike >= analyzer.matcher.threshold  # one person throughout
    assert check.embedding.shape == (analyzer.embedder.dimensions,)
    assert check.image is not None and check.image.shape == turning[check.frame].shape


def test_the_way_back_from_a_right_turn_is_no_left_turn(turning, analyzer, pose_model):
    # The review signed in under "left" with these frames: the head coming back from his right to
    # facing, a little past it (+0.16), read as a rise of the pose value. He never turns to his left.
    refused = check_burst(turning, MOVES["left"], analyzer, pose_model)
    assert not refused.passed and "did not move as asked" in refused.reason
    assert refused.verdict.moved < TURN


def test_the_turn_played_backwards_is_the_same_turn_not_the_other(turning, analyzer, pose_model):
    backwards = turning[::-1]
    assert check_burst(backwards, MOVES["right"], analyzer, pose_model).passed  # facing, right, facing again
    refused = check_burst(backwards, MOVES["left"], analyzer, pose_model)
    assert not refused.passed and refused.verdict.moved < TURN


@pytest.mark.parametrize("moves", [("right", "left"), ("left", "right")])
def test_two_moves_pass_in_the_asked_order_and_not_in_the_other(analyzer, pose_model, moves):
    footage = moves_footage(moves, analyzer.detector)
    check = check_burst(footage, [MOVES[m] for m in moves], analyzer, pose_model)
    assert check.passed, check.reason
    assert [step.move for step in check.verdict.steps] == list(moves)
    assert all(step.moved >= TURN for step in check.verdict.steps)
    assert check.alike >= analyzer.matcher.threshold  # the mirrored head is still him, throughout
    swapped = check_burst(footage, [MOVES[m] for m in moves[::-1]], analyzer, pose_model)
    assert not swapped.passed and "(move 2 of 2" in swapped.reason  # the first found, then nothing after


def test_a_recording_of_one_move_answers_no_two_move_challenge(turning, analyzer, pose_model):
    for moves in (("right", "left"), ("left", "right"), ("right", "up")):
        for footage in (turning, turning[::-1], right_turn(analyzer.detector, step=3)):
            check = check_burst(footage, [MOVES[m] for m in moves], analyzer, pose_model)
            assert not check.passed, moves
    twice = moves_footage(["right", "right"], analyzer.detector)  # the same turn, twice: no left in it
    assert not check_burst(twice, [MOVES["right"], MOVES["left"]], analyzer, pose_model).passed


@pytest.mark.parametrize("moves", [("left", "right"), ("right", "left")])
def test_one_recording_with_a_move_more_answers_neither_order(analyzer, pose_model, moves):
    # The review's recording: left, right, left, unedited. Before, it answered both orders of two moves
    # (each asked move was looked for further on, and the moves not asked were never looked at).
    for made in (["left", "right", "left"], ["right", "left", "right"]):
        check = check_burst(moves_footage(made, analyzer.detector, step=4), [MOVES[m] for m in moves], analyzer,
                            pose_model)
        assert not check.passed and f"not asked (a turn to the {made[0]})" in check.reason, (made, check.reason)
        assert [step.passed for step in check.verdict.steps] == [True, True]  # the asked moves are there


@pytest.mark.parametrize("moves", [("left", "right"), ("right", "left")])
def test_a_man_who_follows_the_prompts_passes_either_order(analyzer, pose_model, moves):
    # The clip's man turning when each prompt shows (after 0.3 s, or a slow 0.9 s), at the clip's pace and
    # faster: the way back from each turn, past facing, is no move of its own.
    man = person(analyzer.detector)
    for reaction, speed in ((0.3, 1.0), (0.9, 1.0), (0.6, 1.5)):
        check = check_burst(prompted(man, moves, reaction=reaction, speed=speed), [MOVES[m] for m in moves], analyzer,
                            pose_model)
        assert check.passed, (reaction, speed, check.reason)


def test_a_turn_is_not_taken_for_looking_up(turning, analyzer, pose_model):
    check = check_burst(turning, MOVES["up"], analyzer, pose_model)
    assert not check.passed
    assert check.embedding is None


def test_posed_photos_that_never_face_the_camera_then_turn_pass_no_turn(analyzer, pose_model):
    # Kit Harington facing the camera's left (-0.28), ahead (-0.07), then its right (+0.14), shown in
    # steps a head could take: before, this passed as a turn to his left. It is a head coming back to
    # facing from his right, and reaching only the near edge of facing on his left: no turn either way.
    frames = posed_frames(KIT_TURNING, analyzer.detector)
    for move in ("left", "right"):
        refused = check_burst(frames, MOVES[move], analyzer, pose_model)
        assert not refused.passed and "did not move as asked" in refused.reason


def test_photos_facing_far_apart_shown_in_turn_are_too_fast_for_a_head(analyzer, pose_model):
    frames = posed_frames(["kit_harington/kit2.jpg", "kit_harington/kit3.jpg"], analyzer.detector)
    check = check_burst(frames, MOVES["left"], analyzer, pose_model)
    assert not check.passed and "faster than a head turns" in check.reason


def test_a_face_swapped_for_a_far_turned_one_is_caught(turning, analyzer, pose_model):
    # The man facing the camera, then at once Kit Harington turned well away: the swap and the turn are
    # one step, too fast for a head; and the frames around the swap are embedded, not only the facing ones.
    kit = posed_frames(["kit_harington/kit2.jpg"], analyzer.detector, each=12)
    man = [frame for frame in turning[:12]]
    check = check_burst(man + kit, MOVES["right"], analyzer, pose_model)
    assert not check.passed


def test_a_burst_turned_away_throughout_gives_a_reason_not_an_error(turning, analyzer, pose_model):
    frames = turning[12:16] * 4  # only the frames turned furthest (across below -0.25)
    check = check_burst(frames, MOVES["left"], analyzer, pose_model)
    assert not check.passed and check.reason


@pytest.mark.parametrize("photo", STILLS)
def test_a_photo_held_up_and_moved_about_passes_no_challenge(analyzer, pose_model, photo):
    frames = held_up_frames(load_photo(photo), analyzer.detector)
    for move in MOVES.values():
        check = check_burst(frames, move, analyzer, pose_model)
        assert not check.passed, f"{photo} passed '{move.name}'"
        assert check.verdict.usable >= len(frames) // 2  # refused for not moving, not for being unseen
        assert check.verdict.moved < move.needed


def test_one_frame_sent_again_and_again_passes_no_challenge(turning, analyzer, pose_model):
    frames = [turning[0]] * 24
    for move in MOVES.values():
        check = check_burst(frames, move, analyzer, pose_model)
        assert not check.passed and check.verdict.moved == 0.0


def test_a_face_swapped_for_another_during_the_turn_is_refused(analyzer, pose_model):
    # Kit Harington facing the camera, then turned a little to his left, then Alex Lacamoire turned
    # further that way, at the same place: a turn from facing in steps a head could take.
    frames = posed_frames(["kit_harington/kit1.jpg", "kit_harington/kit3.jpg", "alex_lacamoire/alex2.png"],
                          analyzer.detector)
    check = check_burst(frames, MOVES["left"], analyzer, pose_model)
    assert check.verdict.passed  # the movement alone looks right ...
    assert not check.passed and "face changed" in check.reason  # ... but it is two people
    assert check.alike < analyzer.matcher.threshold


def test_several_faces_in_view_are_refused(analyzer, pose_model):
    frames = [load_photo("group/obama_and_biden.jpg")] * 12
    check = check_burst(frames, MOVES["left"], analyzer, pose_model)
    assert not check.passed and "several faces" in check.reason


def test_a_picture_moved_flat_does_not_change_the_pose():
    """across and down are affine invariants: a print slid, turned, scaled or sheared in the image reads the same."""
    points = np.random.default_rng(1).uniform(100, 300, size=(68, 2))
    before = pose_from_landmarks(points)
    moved = points @ np.array([[0.7, 0.2], [-0.3, 1.1]]) + [40, -25]
    after = pose_from_landmarks(moved)
    assert after.across == pytest.approx(before.across) and after.down == pytest.approx(before.down)


def looks(values, axis="across", eyes=40.0):
    from recognition.faces import Box

    return [FrameLook(1, Box(100, 100, 150, 150), HeadPose(**{"across": 0.0, "down": 0.35, axis: v}, eye_distance=eyes))
            for v in values]


def test_the_judge_needs_the_movement_in_the_asked_direction_from_facing_and_a_big_enough_face():
    rising = list(np.linspace(0.0, 0.3, 10))
    assert judge(looks(rising), MOVES["left"]).passed
    assert not judge(looks(rising), MOVES["right"]).passed
    assert not judge(looks(rising[::-1]), MOVES["right"]).passed  # back from the left is no turn right
    assert judge(looks(list(np.linspace(0.0, -0.3, 10))), MOVES["right"]).passed
    lowering = list(np.linspace(0.35, 0.35 - 1.5 * LIFT, 10))
    assert judge(looks(lowering, "down"), MOVES["up"]).passed
    assert not judge(looks(lowering[::-1], "down"), MOVES["up"]).passed
    assert "too small" in judge(looks(rising, eyes=10.0), MOVES["left"]).reason
    assert "not seen in enough frames" in judge(looks(rising[:4]), MOVES["left"]).reason


def test_a_turn_counts_from_facing_and_must_end_past_straight_on():
    # Turned right (-0.4), swinging back through facing to the near edge of facing on the left: a rise
    # of 0.55, but it ends only 0.15 past straight-on.
    back = list(np.linspace(-0.4, 0.15, 12)) + [0.15] * 4
    assert not judge(looks(back), MOVES["left"]).passed
    assert judge(looks(back + list(np.linspace(0.15, 0.3, 4))), MOVES["left"]).passed  # going on to a turn
    turned = [0.3] * 12  # turned throughout: no facing start
    assert "never faced the camera" in judge(looks(turned), MOVES["left"]).reason


def test_two_moves_in_order_each_from_facing_with_a_way_back_between():
    facing = [0.0] * 3  # a head holds still a moment between moves (a third of a second)
    right, left = facing + list(np.linspace(0.0, -0.3, 6)), facing + list(np.linspace(0.0, 0.3, 6))
    back_from_right, back_from_left = right[::-1], left[::-1]
    both = right + back_from_right + left + back_from_left
    assert judge(looks(both), [MOVES["right"], MOVES["left"]]).passed
    assert judge(looks(right + back_from_right + left), [MOVES["right"], MOVES["left"]]).passed  # last: no way back needed
    wrong_order = judge(looks(both), [MOVES["left"], MOVES["right"]])
    assert not wrong_order.passed and "move 2 of 2" in wrong_order.reason
    stuck = right + [-0.3] * 6  # turned right and stayed there
    refused = judge(looks(stuck + [-0.3 + 0.01 * i for i in range(4)]), [MOVES["right"], MOVES["left"]])
    assert not refused.passed and "did not come back" in refused.reason
    once = judge(looks(right + back_from_right), [MOVES["right"], MOVES["right"]])
    assert not once.passed and [s.passed for s in once.steps] == [True, False]  # one turn is not two


def test_one_frame_the_detector_got_wrong_is_left_out_but_a_swap_is_not():
    from dataclasses import replace

    from recognition.faces import Box

    frames = looks(list(np.linspace(0.0, -0.3, 12)))
    frames[5] = replace(frames[5], box=Box(300, 100, 80, 80))  # one stray box between two that agree
    verdict = judge(frames, MOVES["right"])
    assert verdict.passed and 5 not in verdict.followed and len(verdict.followed) == 11
    for i in range(5, 12):  # from frame 5 on, the face is elsewhere: another face, not a slip
        frames[i] = replace(frames[i], box=Box(300, 100, 150, 150))
    assert "jumped" in judge(frames, MOVES["right"]).reason


def posed(across, down=None):
    from recognition.faces import Box

    down = [0.35] * len(across) if down is None else down
    return [FrameLook(1, Box(100, 100, 150, 150), HeadPose(across=a, down=d, eye_distance=40.0))
            for a, d in zip(across, down)]


def test_a_move_that_was_not_asked_is_refused_wherever_the_head_makes_it():
    facing = [0.0] * 3
    left, right = facing + list(np.linspace(0.0, 0.3, 6)), facing + list(np.linspace(0.0, -0.3, 6))
    half_right = facing + list(np.linspace(0.0, -0.12, 4)) + [-0.12] * 2  # half a turn's amount, and a little more

    def lap(way):
        return way + way[::-1]  # out and back to facing

    asked = [MOVES["left"], MOVES["right"]]
    assert judge(posed(lap(left) + lap(right)), asked).passed
    for order in (asked, asked[::-1]):  # left, right, left: before, both orders passed
        refused = judge(posed(lap(left) + lap(right) + lap(left)), order)
        assert not refused.passed and "not asked (a turn to the left)" in refused.reason
    for burst, order in ((lap(half_right) + lap(left) + lap(right), asked),  # before the asked moves, ...
                         (lap(right) + lap(half_right) + lap(left), asked[::-1]),  # between (back at facing first)
                         (lap(left) + lap(right) + half_right, asked)):  # after (and not back)
        assert "not asked (a turn to the right)" in judge(posed(burst), order).reason
    twice = left + [0.3] * 2 + [0.1] * 3 + [0.35] * 3 + left[::-1]  # to the left, back to facing, left again
    assert "not asked (a turn to the left)" in judge(posed(twice), MOVES["left"]).reason
    # Straight from a turn to the left on to the right, without stopping at facing: a turn all the same.
    sweep = left + list(np.linspace(0.3, -0.3, 8)) + right[::-1]
    assert judge(posed(sweep), asked).passed
    assert "not asked (a turn to the right)" in judge(posed(sweep), MOVES["left"]).reason


def test_the_way_back_and_the_chin_wandering_in_a_turn_are_no_moves_but_a_look_up_is():
    facing = [0.0] * 3
    right = facing + list(np.linspace(0.0, -0.3, 6)) + [-0.3] * 3
    # Back past facing by 0.15 (the clip's man swings 0.16 past it), then facing: no turn to the left.
    back = list(np.linspace(-0.3, 0.15, 6)) + [0.15, 0.1, 0.05] + facing
    assert judge(posed(right + back), MOVES["right"]).passed
    # dlib's chin rises as the head turns furthest, the head steady meanwhile: part of the turn.
    chin = [0.35] * 9 + [0.25] * 3 + [0.35] * len(back)
    assert judge(posed(right + back, chin), MOVES["right"]).passed
    # A slow turn to the left still going as the burst ends, the chin rising with it from where the head
    # still faced the camera (the clip's man at 0.8 times his pace): the turn's, not a look up.
    slow_left = facing + list(np.linspace(0.0, 0.12, 6)) + [0.13, 0.14, 0.15, 0.17, 0.19, 0.21, 0.22]
    rising = [0.38] * (len(right + back + slow_left) - 4) + [0.36, 0.34, 0.32, 0.31]
    assert judge(posed(right + back + slow_left, rising), [MOVES["right"], MOVES["left"]]).passed
    # The same rise with the head facing the camera, after the turn: a look up that was not asked.
    looked = right + back + facing * 3
    up = [0.35] * (len(right) + len(back) + 2) + [0.25] * 4 + [0.35] * 3
    refused = judge(posed(looked, up), MOVES["right"])
    assert not refused.passed and "not asked (a look up)" in refused.reason


def test_one_recording_of_up_left_up_answers_neither_order():
    rest = [(0.0, 0.35)] * 4
    look = [(0.0, d) for d in [*np.linspace(0.35, 0.2, 4), 0.2, 0.2, *np.linspace(0.2, 0.35, 4)]]
    turn = [(a, 0.35) for a in np.linspace(0.0, 0.3, 6)] + [(a, 0.35) for a in np.linspace(0.3, 0.0, 6)]
    across, down = zip(*(rest + look + rest + turn + rest + look + rest))
    up, left = MOVES["up"], MOVES["left"]
    assert judge(posed(*zip(*(rest + look + rest + turn + rest))), [up, left]).passed
    for order in ([up, left], [left, up]):
        refused = judge(posed(list(across), list(down)), order)
        assert not refused.passed and "not asked (a look up)" in refused.reason


def test_turning_points_are_the_extremes_between_swings_of_at_least_the_amount():
    values = np.array([0.0, 0.02, -0.05, -0.3, -0.2, -0.25, 0.1, 0.05, 0.12])
    assert turning_points(values, 0.1) == [1, 3, 8]  # -0.2 is a swing of 0.1 back, but not before the far one
    assert turning_points(np.array([0.0, 0.05, 0.0]), 0.1) == [0]  # no swing at all
    assert turning_points(np.array([0.3, 0.0]), 0.1) == [0, 1]
