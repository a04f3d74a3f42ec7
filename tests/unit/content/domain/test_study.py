"""Study and self-testing (issue 20), the pure rules: what a quiz must be (2 to 6 options, exactly
one right), how answers are scored and reviewed, an average that tells no one's score, and who
publishes a topic."""

import pytest

from services.content.domain import study
from services.content.domain.study import Question, Refused

Q1 = Question("Nghị quyết số 15-NQ/TU bàn về nội dung gì?", ("Chuyển đổi số", "Xây dựng Đảng", "Giao thông"), 0,
              "Nghị quyết bàn về chuyển đổi số trong toàn Đảng bộ.")
Q2 = Question("Đảng viên học tập nghị quyết ở đâu?", ("Tại chi bộ", "Ở nhà"), 0)
Q3 = Question("Thời hạn hoàn thành?", ("Quý I", "Quý II", "Quý III", "Quý IV"), 3)


def test_a_good_quiz_has_no_problems():
    assert study.quiz_problems([Q1, Q2, Q3]) == []
    six = Question("Sáu phương án", tuple(f"Phương án {i}" for i in range(6)), 5)
    assert study.quiz_problems([six]) == []


def test_a_quiz_needs_questions_and_each_two_to_six_options_one_of_them_right():
    assert study.quiz_problems([]) == [("questions", "needs at least one question")]
    assert study.quiz_problems([Q2] * (study.MAX_QUESTIONS + 1)) == [("questions", "must be at most 50 questions")]
    one = Question("Một phương án", ("Có",), 0)
    seven = Question("Bảy phương án", tuple(str(i) for i in range(7)), 0)
    assert study.quiz_problems([one, seven]) == [("questions.0.options", "needs 2 to 6 options"),
                                                 ("questions.1.options", "needs 2 to 6 options")]
    wrong_key = Question("Câu hỏi", ("A", "B"), 2)
    negative_key = Question("Câu hỏi", ("A", "B"), -1)
    assert study.quiz_problems([Q1, wrong_key, negative_key]) == [
        ("questions.1.correct", "must be the number of one of its options (0 for the first)"),
        ("questions.2.correct", "must be the number of one of its options (0 for the first)")]


def test_blank_prompts_options_and_the_same_option_twice_are_named_where_they_are():
    blank = Question("   ", ("Có", "  ", "Không"), 0)
    twice = Question("Câu hỏi", ("Tại chi bộ", "tại  Chi bộ "), 1)
    assert study.quiz_problems([blank, twice]) == [
        ("questions.0.prompt", "is required"), ("questions.0.options.1", "is required"),
        ("questions.1.options", "holds the same option twice")]


def test_a_question_is_kept_tidy():
    kept = study.tidy(Question("  Câu hỏi? ", (" A ", "B  "), 1, "   "))
    assert kept == Question("Câu hỏi?", ("A", "B"), 1, None)


def test_every_question_is_answered_with_one_of_its_options():
    assert study.answer_problems([Q1, Q2], [0, 1]) == []
    assert study.answer_problems([Q1, Q2], [0]) == [("answers", "needs one answer for each of the 2 questions")]
    assert study.answer_problems([Q1, Q2], [0, 1, 1]) == [("answers", "needs one answer for each of the 2 questions")]
    assert study.answer_problems([Q1, Q2], [3, 2]) == [
        ("answers.0", "must be one of the question's options (0 to 2)"),
        ("answers.1", "must be one of the question's options (0 to 1)")]


def test_each_right_answer_is_a_point_and_the_review_shows_the_right_one_and_why():
    assert study.score([Q1, Q2, Q3], [0, 0, 3]) == 3
    assert study.score([Q1, Q2, Q3], [1, 0, 2]) == 1
    assert study.percent(2, 3) == 66.67 and study.percent(0, 0) == 0.0
    review = study.review([Q1, Q2], [1, 0])
    assert review[0] == {"prompt": Q1.prompt, "options": list(Q1.options), "chosen": 1, "correct": 0, "right": False,
                         "explanation": "Nghị quyết bàn về chuyển đổi số trong toàn Đảng bộ."}
    assert review[1]["right"] is True and review[1]["explanation"] is None


def test_an_average_is_given_only_over_enough_results_to_tell_no_ones_score():
    assert study.AVERAGE_FROM == 3
    assert study.average(None, 0) is None
    assert study.average(100.0, 1) is None  # that member's own score
    assert study.average(150.0, 2) is None  # each of the two would know the other's
    assert study.average(200.0, 3) == 66.67
    assert study.average(240, 4) == 60.0


def test_a_chief_editor_above_the_author_unit_publishes_and_never_their_own_topic():
    study.may_publish("chief-2", ["/city/"], "/city/ba-dinh/", "editor-1")
    study.may_publish("chief-2", ["/city/ba-dinh/"], "/city/ba-dinh/", "editor-1")
    with pytest.raises(Refused) as refused:
        study.may_publish("chief-th", ["/city/tay-ho/"], "/city/ba-dinh/", "editor-1")
    assert (refused.value.status, refused.value.code) == (403, "only_chief")
    with pytest.raises(Refused) as refused:
        study.may_publish("chief-2", ["/city/"], "/city/ba-dinh/", "chief-2")
    assert (refused.value.status, refused.value.code) == (403, "two_person_author")


def test_only_a_draft_is_edited_or_published():
    assert study.next_status("edit", "draft") == "draft"
    assert study.next_status("publish", "draft") == "published"
    for action in ("edit", "publish"):
        with pytest.raises(Refused) as refused:
            study.next_status(action, "published")
        assert (refused.value.status, refused.value.code) == (409, "wrong_status")
