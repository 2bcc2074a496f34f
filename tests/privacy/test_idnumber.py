"""Tests for fieldwork.privacy.idnumber (GB 11643-1999 resident identity numbers)."""

from datetime import date

import pytest

from fieldwork.privacy.idnumber import (
    PROVINCE_CODES,
    IdNumberError,
    birth_date_of,
    check_digit,
    gender_of,
    make_test_id_number,
    mask_id_number,
    mask_phone,
    validate_id_number,
)

TODAY = date(2024, 6, 1)

# Examples printed in GB 11643-1999 itself (Appendix / examples of the check code).
GB_EXAMPLE_X = "11010519491231002X"  # Beijing Chaoyang, born 1949-12-31, female, check X
GB_EXAMPLE_1880 = "440524188001010014"  # Guangdong Shantou, born 1880-01-01, male, check 4

NANYANG_WOLONG = "411303"  # 南阳市卧龙区
NANYANG_WANCHENG = "411302"  # 南阳市宛城区


def _iso7064_ok(number: str) -> bool:
    """Independent oracle: ISO 7064 MOD 11-2 means sum(a_i * 2^(18-i)) == 1 (mod 11)."""
    values = [10 if ch == "X" else int(ch) for ch in number]
    return sum(v * pow(2, 17 - i) for i, v in enumerate(values)) % 11 == 1


def _with_check(first17: str) -> str:
    return first17 + check_digit(first17)


def _code(value, **kwargs):
    with pytest.raises(IdNumberError) as info:
        validate_id_number(value, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert str(err) == err.message
    return err.code, err.message


def test_gb_standard_example_with_x_is_valid():
    assert validate_id_number(GB_EXAMPLE_X, today=TODAY) == GB_EXAMPLE_X
    assert check_digit(GB_EXAMPLE_X[:17]) == "X"
    assert _iso7064_ok(GB_EXAMPLE_X)
    assert birth_date_of(GB_EXAMPLE_X) == date(1949, 12, 31)
    assert gender_of(GB_EXAMPLE_X) == "female"


def test_gb_standard_1880_example_has_correct_check_digit_but_is_before_1900():
    assert check_digit(GB_EXAMPLE_1880[:17]) == "4"
    assert _iso7064_ok(GB_EXAMPLE_1880)
    code, message = _code(GB_EXAMPLE_1880, today=TODAY)
    assert code == "birth_date"
    assert "1900" in message


def test_normalisation_spaces_and_lowercase_x():
    assert validate_id_number(" 110105 19491231 002x ", today=TODAY) == GB_EXAMPLE_X
    assert validate_id_number("11010519491231002x\n", today=TODAY) == GB_EXAMPLE_X


def test_normalisation_full_width_input():
    full_width = "１１０１０５１９４９１２３１００２ｘ"
    assert validate_id_number(full_width, today=TODAY) == GB_EXAMPLE_X
    assert validate_id_number("110105\u300019491231002X", today=TODAY) == GB_EXAMPLE_X


def test_check_digit_covers_every_remainder():
    seen = {}
    for seq in range(200):
        first17 = f"{NANYANG_WANCHENG}19900101{seq:03d}"
        seen.setdefault(check_digit(first17), first17)
    assert set(seen) == set("0123456789X")
    for digit, first17 in seen.items():
        number = first17 + digit
        assert _iso7064_ok(number)
        assert validate_id_number(number, today=TODAY) == number


@pytest.mark.parametrize(
    "first17,expected",
    [
        ("11010519491231002", "X"),
        ("44052418800101001", "4"),
        ("00000000000000000", "1"),  # weighted sum 0 -> remainder 0 -> "1"
        ("10000000000000000", "5"),  # weighted sum 7 -> remainder 7 -> "5"
        ("00000000000000001", "X"),  # weighted sum 2 -> remainder 2 -> "X"
    ],
)
def test_check_digit_known_values(first17, expected):
    assert check_digit(first17) == expected
    assert _iso7064_ok(first17 + expected)


@pytest.mark.parametrize("bad", ["", "1234", "1101051949123100X", "110105194912310021", None, 123])
def test_check_digit_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        check_digit(bad)


def test_every_wrong_check_digit_is_rejected():
    first17 = GB_EXAMPLE_X[:17]
    for ch in "0123456789":
        code, message = _code(first17 + ch, today=TODAY)
        assert code == "check_digit"
        assert message.startswith("身份证号校验位不正确")


def test_single_digit_typo_is_detected():
    number = make_test_id_number(NANYANG_WOLONG, date(1985, 3, 7), 123)
    for pos in range(17):
        digit = int(number[pos])
        typo = number[:pos] + str((digit + 1) % 10) + number[pos + 1 :]
        with pytest.raises(IdNumberError):
            validate_id_number(typo, today=TODAY)


@pytest.mark.parametrize(
    "value,expected_message",
    [
        ("", "请填写身份证号"),
        ("   ", "请填写身份证号"),
        (None, "请填写身份证号"),
        ("41130219900101123", "身份证号应为18位"),
        ("4113021990010112345", "身份证号应为18位"),
        ("411302900101123", "身份证号应为18位"),  # old 15-digit format
    ],
)
def test_length_errors(value, expected_message):
    assert _code(value, today=TODAY) == ("length", expected_message)


@pytest.mark.parametrize(
    "value",
    ["41130219900101123Y", "4113021990010112X4", "41130A199001011234", "411302-99001011234"],
)
def test_format_errors(value):
    code, message = _code(value, today=TODAY)
    assert code == "format"
    assert "前17位应为数字" in message


@pytest.mark.parametrize("area", ["000000", "100101", "191001", "401302", "721001", "901234"])
def test_region_errors(area):
    first17 = f"{area}19900101123"
    code, message = _code(_with_check(first17), today=TODAY)
    assert code == "region"
    assert message == "身份证号前6位地区码无效"


def test_province_code_set():
    assert {"11", "41", "65", "71", "81", "82"} <= PROVINCE_CODES
    assert not {"00", "10", "16", "40", "47", "55", "66", "83", "99"} & PROVINCE_CODES
    assert len(PROVINCE_CODES) == 34


@pytest.mark.parametrize(
    "birth",
    ["19900230", "19900001", "19901301", "19900100", "19000229", "20230229", "00000000"],
)
def test_impossible_birth_dates(birth):
    code, message = _code(_with_check(f"{NANYANG_WANCHENG}{birth}123"), today=TODAY)
    assert code == "birth_date"
    assert message == "身份证号中的出生日期无效"


def test_leap_day_is_valid():
    number = _with_check(f"{NANYANG_WANCHENG}20000229123")
    assert validate_id_number(number, today=TODAY) == number
    assert birth_date_of(number) == date(2000, 2, 29)


def test_future_birth_date():
    tomorrow = _with_check(f"{NANYANG_WANCHENG}20240602123")
    code, message = _code(tomorrow, today=TODAY)
    assert code == "birth_date"
    assert message == "身份证号中的出生日期不能晚于今天"
    # Born today is fine (newborns get numbers).
    born_today = _with_check(f"{NANYANG_WANCHENG}20240601123")
    assert validate_id_number(born_today, today=TODAY) == born_today


def test_future_birth_date_defaults_to_real_today():
    far_future = _with_check(f"{NANYANG_WANCHENG}{date.today().year + 1}0101123")
    assert _code(far_future)[0] == "birth_date"


def test_year_before_1900():
    code, message = _code(_with_check(f"{NANYANG_WANCHENG}18991231123"), today=TODAY)
    assert code == "birth_date"
    assert message == "身份证号中的出生年份不能早于1900年"


def test_error_order_region_before_birth_before_check():
    # Bad region and bad date: region reported first.
    assert _code(f"000000{'19900230'}1230", today=TODAY)[0] == "region"
    # Bad date and bad check digit: birth date reported first.
    assert _code(f"{NANYANG_WANCHENG}199002301230", today=TODAY)[0] == "birth_date"


def test_error_codes_are_from_documented_set():
    samples = [
        "",
        "1234",
        "41130219900101123Y",
        _with_check("00000019900101123"),
        _with_check(f"{NANYANG_WANCHENG}19900230123"),
        GB_EXAMPLE_X[:17] + "0",
    ]
    codes = {_code(s, today=TODAY)[0] for s in samples}
    assert codes == {"length", "format", "region", "birth_date", "check_digit"}


def test_make_test_id_number():
    number = make_test_id_number(NANYANG_WANCHENG, date(1990, 1, 1), 123)
    assert number[:17] == "41130219900101123"
    assert validate_id_number(number, today=TODAY) == number
    assert birth_date_of(number) == date(1990, 1, 1)
    assert gender_of(number) == "male"
    assert gender_of(make_test_id_number(NANYANG_WANCHENG, date(1990, 1, 1), 124)) == "female"
    assert make_test_id_number("411302", date(1950, 5, 6), 0)[14:17] == "000"
    assert make_test_id_number("411302", date(1950, 5, 6), 999)[14:17] == "999"


@pytest.mark.parametrize(
    "area,birth,seq",
    [
        ("41130", date(1990, 1, 1), 1),
        ("4113021", date(1990, 1, 1), 1),
        ("000000", date(1990, 1, 1), 1),
        ("41130x", date(1990, 1, 1), 1),
        ("411302", date(1899, 1, 1), 1),
        ("411302", date(1990, 1, 1), -1),
        ("411302", date(1990, 1, 1), 1000),
        ("411302", date(1990, 1, 1), True),
    ],
)
def test_make_test_id_number_rejects_bad_arguments(area, birth, seq):
    with pytest.raises(ValueError):
        make_test_id_number(area, birth, seq)


def test_many_generated_numbers_validate():
    for i in range(500):
        birth = date(1930 + i % 90, 1 + i % 12, 1 + i % 28)
        number = make_test_id_number(NANYANG_WOLONG, birth, i * 2 % 1000)
        assert validate_id_number(number, today=TODAY) == number
        assert _iso7064_ok(number)


def test_birth_and_gender_helpers_validate_input():
    with pytest.raises(IdNumberError):
        birth_date_of("411302199002301234")
    with pytest.raises(IdNumberError):
        gender_of("not an id")
    assert gender_of(GB_EXAMPLE_X.lower()) == "female"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("411302199001011234", "4113**********1234"),
        (GB_EXAMPLE_X, "1101**********002X"),
        ("11010519491231002x", "1101**********002X"),
        (" 411302 19900101 1234 ", "4113**********1234"),
        ("", ""),
        (None, ""),
        ("411302900101123", "4113*******1123"),  # 15-digit legacy number
        ("1234", "****"),
        ("12", "**"),
    ],
)
def test_mask_id_number(value, expected):
    assert mask_id_number(value) == expected


def test_mask_id_number_length_preserved_and_hides_birth_date():
    number = make_test_id_number(NANYANG_WANCHENG, date(1975, 8, 9), 37)
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert "19750809" not in masked
    assert masked.count("*") == 10


@pytest.mark.parametrize(
    "value,expected",
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("037763123456", "037*****3456"),  # Nanyang landline with area code 0377
        ("63123456", "63****56"),  # 8-digit local number: still at least 4 hidden
        ("12345", "****5"),
        ("1234", "****"),
        ("1", "*"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


def test_masks_always_hide_at_least_four_characters_when_possible():
    for n in range(1, 25):
        value = "9" * n
        for func in (mask_phone, mask_id_number):
            masked = func(value)
            assert len(masked) == n
            assert masked.count("*") >= min(4, n)
