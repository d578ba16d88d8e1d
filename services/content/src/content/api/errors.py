"""How content's domain errors read over HTTP: status, stable ``code`` and the text, once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from servicekit.http.problems import Msg, ProblemMap

from content.application.library import InvalidSearchCursor
from content.application.refusals import (
    AlreadyReviewed,
    AssignmentClosed,
    AssignmentNotFound,
    ClientNotFound,
    CodeTaken,
    ConsentRequired,
    ContactAlreadyLeft,
    ContactsRateLimited,
    ItemNotFound,
    NotAnswerable,
    NothingToPublish,
    NothingToReview,
    NotReviewable,
    PostClosed,
    PostNotFound,
    QuestionnaireArchived,
    QuestionnaireNotFound,
    RateLimited,
    RunAlreadyClaimed,
    RunCompleted,
    RunNotFound,
    SlugTaken,
    SpecialistNotFound,
    VersionNotFound,
)
from content.domain.assignments import DueInThePast
from content.domain.consents import HEALTH_DATA
from content.domain.definitions import DefinitionProblem, InvalidDefinition, Reason
from content.domain.items import MediaUrlMissing, WrongState
from content.domain.scoring import AnswersMissing, UnknownItem, UnknownOption

_P = Mapping[str, Any]

#: What each reason a definition is refused for says (``errors[].msg`` of the 422).
REASONS: dict[Reason, Callable[[_P], Msg]] = {
    "no_items": lambda p: Msg(ru="В опроснике нет вопросов.", en="The questionnaire has no items."),
    "no_bands": lambda p: Msg(
        ru="Не заданы диапазоны тяжести.", en="No severity bands are defined."
    ),
    "duplicate_id": lambda p: Msg(
        ru=f"Идентификатор «{p['id']}» повторяется.", en=f"The id '{p['id']}' is used twice."
    ),
    "no_options": lambda p: Msg(
        ru=f"У вопроса «{p['item']}» нет вариантов ответа.",
        en=f"Item '{p['item']}' has no answer options.",
    ),
    "score_missing": lambda p: Msg(
        ru=f"У варианта ответа оцениваемого вопроса «{p['item']}» нет балла.",
        en=f"An option of the scored item '{p['item']}' has no score.",
    ),
    "score_out_of_range": lambda p: Msg(
        ru=f"Балл {p['score']} вне диапазона {p['min']}–{p['max']}.",
        en=f"The score {p['score']} is outside {p['min']}–{p['max']}.",
    ),
    "score_range_inverted": lambda p: Msg(
        ru="Нижняя граница баллов больше верхней.",
        en="The lowest option score is above the highest.",
    ),
    "unknown_item": lambda p: Msg(
        ru=f"Вопроса «{p['item']}» нет в опроснике.",
        en=f"There is no item '{p['item']}'.",
    ),
    "unscored_item": lambda p: Msg(
        ru=f"Вопрос «{p['item']}» условный и не оценивается: на него нельзя ссылаться.",
        en=f"Item '{p['item']}' is conditional and unscored: it cannot be referred to.",
    ),
    "empty_subscale": lambda p: Msg(
        ru=f"В подшкале «{p['id']}» нет вопросов.", en=f"Subscale '{p['id']}' has no items."
    ),
    "band_empty": lambda p: Msg(
        ru=f"Диапазон {p['min']}–{p['max']} пуст: начало больше конца.",
        en=f"The band {p['min']}–{p['max']} is empty: it starts after it ends.",
    ),
    "bands_start": lambda p: Msg(
        ru=f"Диапазоны должны начинаться с наименьшего возможного балла, {p['expected']}.",
        en=f"The bands must start at the lowest possible total, {p['expected']}.",
    ),
    "bands_end": lambda p: Msg(
        ru=f"Диапазоны должны заканчиваться наибольшим возможным баллом, {p['expected']}.",
        en=f"The bands must end at the highest possible total, {p['expected']}.",
    ),
    "bands_gap": lambda p: Msg(
        ru=f"Баллы {p['from']}–{p['to']} не попадают ни в один диапазон.",
        en=f"The totals {p['from']}–{p['to']} fall in no band.",
    ),
    "bands_overlap": lambda p: Msg(
        ru=f"Баллы {p['from']}–{p['to']} попадают в два диапазона.",
        en=f"The totals {p['from']}–{p['to']} fall in two bands.",
    ),
    "threshold_out_of_range": lambda p: Msg(
        ru=f"Порог {p['value']} должен быть от {p['min']} до {p['max']}.",
        en=f"The threshold {p['value']} must be between {p['min']} and {p['max']}.",
    ),
    "code_changed": lambda p: Msg(
        ru=f"Код опросника менять нельзя: он остаётся «{p['code']}».",
        en=f"A questionnaire's code does not change: it stays '{p['code']}'.",
    ),
}


def _definition_errors(e: InvalidDefinition) -> list[dict[str, Any]]:
    def entry(p: DefinitionProblem) -> dict[str, Any]:
        return {
            "loc": ["body", "definition", *map(str, p.loc)],  # strings, as pydantic's
            "msg": REASONS[p.reason](p.params),
            "type": p.reason,
        }

    return [entry(p) for p in e.problems]


PROBLEMS = ProblemMap()
PROBLEMS.add(
    InvalidDefinition,
    422,
    Msg(
        ru="Опросник составлен с ошибками; подробности в errors.",
        en="The questionnaire definition is invalid; see errors.",
    ),
    title=Msg(ru="Опросник составлен с ошибками", en="Invalid definition"),
    errors=_definition_errors,
)
PROBLEMS.add(
    UnknownItem,
    422,
    lambda e: Msg(
        ru=f"В опроснике нет вопроса «{e.item_id}».", en=f"There is no item '{e.item_id}'."
    ),
)
PROBLEMS.add(
    UnknownOption,
    422,
    lambda e: Msg(
        ru=f"У вопроса «{e.item_id}» нет варианта «{e.option_id}».",
        en=f"Item '{e.item_id}' has no option '{e.option_id}'.",
    ),
)
PROBLEMS.add(
    AnswersMissing,
    409,
    lambda e: Msg(
        ru=f"Ещё не отвечены вопросы: {', '.join(e.item_ids)}.",
        en=f"Still unanswered: {', '.join(e.item_ids)}.",
    ),
    title=Msg(ru="Ответы не полны", en="Answers missing"),
    extra=lambda e: {"unanswered": e.item_ids},
)
PROBLEMS.add(
    DueInThePast,
    422,
    Msg(ru="Срок должен быть в будущем.", en="The due time must be in the future."),
)
PROBLEMS.add(
    QuestionnaireNotFound, 404, Msg(ru="Такого опросника нет.", en="No such questionnaire.")
)
PROBLEMS.add(VersionNotFound, 404, Msg(ru="Такой версии нет.", en="No such version."))
PROBLEMS.add(
    RunNotFound,
    404,
    Msg(ru="Такого прохождения нет.", en="No such questionnaire run."),
)
PROBLEMS.add(AssignmentNotFound, 404, Msg(ru="Такого задания нет.", en="No such assignment."))
PROBLEMS.add(
    ClientNotFound, 404, Msg(ru="Такого клиента у вас нет.", en="No such client of yours.")
)
PROBLEMS.add(
    CodeTaken,
    409,
    lambda e: Msg(
        ru=f"Код «{e.taken}» уже занят другим опросником.",
        en=f"The code '{e.taken}' belongs to another questionnaire.",
    ),
)
PROBLEMS.add(
    NothingToPublish,
    409,
    Msg(
        ru="Черновик совпадает с последней опубликованной версией.",
        en="The draft is the latest published version already.",
    ),
)
PROBLEMS.add(
    QuestionnaireArchived,
    409,
    Msg(ru="Опросник в архиве.", en="The questionnaire is archived."),
)
PROBLEMS.add(
    RunCompleted,
    409,
    Msg(
        ru="Опросник уже пройден: ответы и результат больше не меняются.",
        en="The run is completed: its answers and its score no longer change.",
    ),
)
PROBLEMS.add(
    RunAlreadyClaimed,
    409,
    Msg(
        ru="Это прохождение уже привязано к учётной записи.",
        en="This run already belongs to an account.",
    ),
)
PROBLEMS.add(
    ConsentRequired,
    403,
    lambda e: (
        Msg(
            ru="Нет согласия на обработку данных о здоровье (или оно отозвано): ответы не "
            "сохраняются, пока согласие не будет дано.",
            en="There is no consent to the processing of health data (or it was withdrawn): "
            "answers are not stored until it is given.",
        )
        if e.purpose == HEALTH_DATA
        else Msg(
            ru="Клиент не дал согласия на передачу своих данных специалисту.",
            en="The client has not consented to sharing their data with their specialist.",
        )
    ),
    title=Msg(ru="Нужно согласие", en="Consent required"),
)
PROBLEMS.add(
    AssignmentClosed,
    409,
    Msg(ru="Задание уже выполнено или отменено.", en="The assignment is done or cancelled."),
)

# -- articles, posts, moderation ------------------------------------------------------------

PROBLEMS.add(ItemNotFound, 404, Msg(ru="Такого материала нет.", en="No such item."))
PROBLEMS.add(
    SlugTaken,
    409,
    Msg(
        ru="Этот адрес (slug) уже занят другим материалом на этом языке.",
        en="Another item in this language has this slug.",
    ),
)
PROBLEMS.add(
    NothingToReview,
    409,
    Msg(ru="Нет версии, ожидающей этого шага.", en="No revision is waiting for this step."),
)
PROBLEMS.add(
    WrongState,
    409,
    lambda e: Msg(
        ru=f"В состоянии «{e.status}» это сделать нельзя.",
        en=f"Not possible while the item is {e.status}.",
    ),
)
PROBLEMS.add(
    MediaUrlMissing,
    422,
    Msg(
        ru="Для аудио и видео нужна ссылка на запись (media_url).",
        en="An audio or video resource needs its media_url.",
    ),
)
PROBLEMS.add(
    InvalidSearchCursor,
    422,
    Msg(ru="Этот курсор не был выдан этим API.", en="The cursor is not one this API gave out."),
    title=Msg(ru="Неверный курсор", en="Invalid cursor"),
)
PROBLEMS.add(PostNotFound, 404, Msg(ru="Такой публикации нет.", en="No such post."))
PROBLEMS.add(SpecialistNotFound, 404, Msg(ru="Такого специалиста нет.", en="No such specialist."))
PROBLEMS.add(
    PostClosed,
    409,
    Msg(
        ru="Решение по публикации уже принято (или она отозвана): изменить её нельзя.",
        en="The post has been decided on (or withdrawn): it can no longer be changed.",
    ),
)
PROBLEMS.add(
    NotReviewable,
    409,
    Msg(
        ru="Отзыв можно оставить только о своей состоявшейся встрече.",
        en="Only one's own completed appointment can be reviewed.",
    ),
)
PROBLEMS.add(
    AlreadyReviewed,
    409,
    Msg(ru="Отзыв об этой встрече уже оставлен.", en="This appointment has been reviewed."),
)
PROBLEMS.add(
    NotAnswerable,
    409,
    Msg(
        ru="Ответить можно только на одобренный вопрос.",
        en="Only an approved question can be answered.",
    ),
)
PROBLEMS.add(
    RateLimited,
    429,
    Msg(
        ru="Слишком много публикаций подряд. Попробуйте позже.",
        en="Too many posts in a row. Try again later.",
    ),
    title=Msg(ru="Слишком часто", en="Too many requests"),
    headers=lambda e: {"Retry-After": str(e.retry_after)},
)
PROBLEMS.add(
    ContactAlreadyLeft,
    409,
    Msg(
        ru="Контакт к этому прохождению уже оставлен.",
        en="A contact was already left for this run.",
    ),
)
PROBLEMS.add(
    ContactsRateLimited,
    429,
    Msg(
        ru="Слишком много контактов подряд. Попробуйте позже.",
        en="Too many contacts in a row. Try again later.",
    ),
    title=Msg(ru="Слишком часто", en="Too many requests"),
    headers=lambda e: {"Retry-After": str(e.retry_after)},
)
