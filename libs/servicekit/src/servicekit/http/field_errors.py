"""Field-level validation messages (the ``msg`` of a 422's ``errors``) in the request's language.

English is pydantic's own message. Russian comes from :data:`RUSSIAN`, one template per pydantic
error type with the same placeholders (a test checks every type pydantic-core knows has one).
A validator that wants its own words raises ``ValueError(Msg(ru=..., en=...))``; a plain
``ValueError("...")`` reads as its English text, and in Russian as a generic "invalid value"
(its words were written in one language only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from servicekit.http.i18n import Language, Msg
from servicekit.http.inputs import NO_NUL, NUL_REFUSED

__all__ = ["RUSSIAN", "field_message"]

_VALUE = "Недопустимое значение."

#: pydantic-core's error types → Russian, with the English template's placeholders.
RUSSIAN: dict[str, str] = {
    "no_such_attribute": "У объекта нет атрибута «{attribute}».",
    "json_invalid": "Это не корректный JSON.",
    "json_type": "JSON должен быть строкой или байтами.",
    "needs_python_object": "Значение нельзя проверить в JSON ({method_name}).",
    "recursion_loop": "Обнаружена циклическая ссылка.",
    "missing": "Обязательное поле.",
    "frozen_field": "Это поле нельзя изменить.",
    "frozen_instance": "Этот объект нельзя изменить.",
    "extra_forbidden": "Лишнее поле: такого поля нет.",
    "invalid_key": "Ключи должны быть строками.",
    "get_attribute_error": "Не удалось прочитать атрибут.",
    "model_type": "Нужен объект ({class_name}).",
    "model_attributes_type": "Нужен объект с полями.",
    "dataclass_type": "Нужен объект ({class_name}).",
    "dataclass_exact_type": "Нужен объект {class_name}.",
    "default_factory_not_called": "Значение по умолчанию не вычислено из-за других ошибок.",
    "none_required": "Здесь должно быть пустое значение (null).",
    "greater_than": "Значение должно быть больше {gt}.",
    "greater_than_equal": "Значение должно быть не меньше {ge}.",
    "less_than": "Значение должно быть меньше {lt}.",
    "less_than_equal": "Значение должно быть не больше {le}.",
    "multiple_of": "Значение должно быть кратно {multiple_of}.",
    "finite_number": "Нужно конечное число.",
    "too_short": "Нужно не меньше элементов: {min_length} (сейчас {actual_length}).",
    "too_long": "Нужно не больше элементов: {max_length} (сейчас {actual_length}).",
    "iterable_type": "Нужен список значений.",
    "iteration_error": "Не удалось перебрать значения.",
    "string_type": "Нужна строка.",
    "string_sub_type": "Нужна обычная строка.",
    "string_unicode": "Нужна строка в Юникоде.",
    "string_too_short": "Нужно не меньше символов: {min_length}.",
    "string_too_long": "Нужно не больше символов: {max_length}.",
    "string_pattern_mismatch": "Строка не соответствует шаблону «{pattern}».",
    "string_not_ascii": "Строка может содержать только символы ASCII.",
    "enum": "Допустимые значения: {expected}.",
    "dict_type": "Нужен объект (словарь).",
    "mapping_type": "Нужен объект (словарь).",
    "list_type": "Нужен список.",
    "tuple_type": "Нужен список фиксированной длины.",
    "set_type": "Нужно множество значений.",
    "set_item_not_hashable": "Элементы множества должны быть простыми значениями.",
    "bool_type": "Нужно логическое значение (true или false).",
    "bool_parsing": "Нужно логическое значение (true или false).",
    "int_type": "Нужно целое число.",
    "int_parsing": "Нужно целое число.",
    "int_parsing_size": "Число слишком большое.",
    "int_from_float": "Нужно целое число, без дробной части.",
    "float_type": "Нужно число.",
    "float_parsing": "Нужно число.",
    "bytes_type": "Нужны байты.",
    "bytes_too_short": "Нужно не меньше байтов: {min_length}.",
    "bytes_too_long": "Нужно не больше байтов: {max_length}.",
    "bytes_invalid_encoding": "Данные должны быть в кодировке {encoding}.",
    "value_error": _VALUE,
    "assertion_error": _VALUE,
    "literal_error": "Допустимые значения: {expected}.",
    "missing_sentinel_error": "Здесь значение должно отсутствовать.",
    "date_type": "Нужна дата.",
    "date_parsing": "Нужна дата в формате ГГГГ-ММ-ДД.",
    "date_from_datetime_parsing": "Нужна дата или дата со временем.",
    "date_from_datetime_inexact": "Для даты время должно быть нулевым.",
    "date_past": "Дата должна быть в прошлом.",
    "date_future": "Дата должна быть в будущем.",
    "time_type": "Нужно время.",
    "time_parsing": "Нужно время в формате ЧЧ:ММ[:СС].",
    "datetime_type": "Нужны дата и время.",
    "datetime_parsing": "Нужны дата и время (RFC 3339, например 2026-01-15T14:00:00+03:00).",
    "datetime_object_invalid": "Недопустимые дата и время.",
    "datetime_from_date_parsing": "Нужны дата и время или дата.",
    "datetime_past": "Момент должен быть в прошлом.",
    "datetime_future": "Момент должен быть в будущем.",
    "timezone_naive": "Время должно быть без часового пояса.",
    "timezone_aware": "Укажите часовой пояс (смещение, например +03:00 или Z).",
    "timezone_offset": "Нужно смещение {tz_expected}, а указано {tz_actual}.",
    "time_delta_type": "Нужна продолжительность.",
    "time_delta_parsing": "Нужна продолжительность.",
    "frozen_set_type": "Нужно множество значений.",
    "is_instance_of": "Нужен объект {class}.",
    "is_subclass_of": "Нужен подкласс {class}.",
    "callable_type": "Нужна функция.",
    "union_tag_invalid": "Значение «{tag}» поля {discriminator} не из допустимых: {expected_tags}.",
    "union_tag_not_found": "Не указано поле {discriminator}.",
    "arguments_type": "Аргументы должны быть списком или объектом.",
    "missing_argument": "Обязательный аргумент.",
    "unexpected_keyword_argument": "Лишний именованный аргумент.",
    "missing_keyword_only_argument": "Обязательный именованный аргумент.",
    "unexpected_positional_argument": "Лишний позиционный аргумент.",
    "missing_positional_only_argument": "Обязательный позиционный аргумент.",
    "multiple_argument_values": "Аргумент передан несколько раз.",
    "url_type": "Нужен URL.",
    "url_parsing": "Нужен корректный URL.",
    "url_syntax_violation": "URL нарушает правила записи.",
    "url_too_long": "URL может быть не длиннее {max_length} символов.",
    "url_scheme": "Схема URL должна быть такой: {expected_schemes}.",
    "uuid_type": "Нужен UUID.",
    "uuid_parsing": "Нужен корректный UUID.",
    "uuid_version": "Нужен UUID версии {expected_version}.",
    "decimal_type": "Нужно десятичное число.",
    "decimal_parsing": "Нужно десятичное число.",
    "decimal_max_digits": "Не больше {max_digits} цифр всего.",
    "decimal_max_places": "Не больше {decimal_places} знаков после запятой.",
    "decimal_whole_digits": "Не больше {whole_digits} цифр до запятой.",
    "complex_type": "Нужно комплексное число.",
    "complex_str_parsing": "Нужно комплексное число.",
}


def _own_text(context: Mapping[str, Any]) -> Msg | None:
    """The ``Msg`` a validator raised (``ValueError(Msg(...))``), if it did."""
    error = context.get("error")
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], Msg) else None


def field_message(error: Mapping[str, Any], language: Language) -> str:
    """The ``msg`` of one pydantic error (``exc.errors()`` entry) in ``language``."""
    context: Mapping[str, Any] = error.get("ctx") or {}
    own = _own_text(context)
    if own is not None:
        return own.text(language)
    if error.get("type") == "string_pattern_mismatch" and context.get("pattern") == NO_NUL:
        return NUL_REFUSED.text(language)  # SafeText's rule, in words rather than a regex
    if language == "en":
        return str(error.get("msg", ""))
    template = RUSSIAN.get(str(error.get("type", "")))
    if template is None:
        return _VALUE
    values = {key: str(value).replace(" or ", " или ") for key, value in context.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return _VALUE
