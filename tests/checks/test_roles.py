"""Column roles (pipeline.checks.roles, dates): each inferred case, its override, what validate
writes and says, the schema draft, and predict applying the same decisions to new rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.__main__ import main
from pipeline.checks import roles
from pipeline.checks.dates import date_features
from pipeline.checks.new_rows import prepare, raw_names
from pipeline.checks.rawfile import RawFile
from pipeline.checks.roles import RoleApplier, RoleEvidence, RolePlan, decide_roles
from pipeline.checks.validation import column_types
from pipeline.checks.validation_report import Report, validation_markdown
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.schema import TableSchema, load_schema
from pipeline.features.preprocessor import Preprocessor

from ..conftest import ROOT
from ..helpers import FrameSource, validate_table

N = 30


def plan_of(
    source: pd.DataFrame | RawFile,
    schema: dict | None = None,
    sections: dict | None = None,
    batch_rows: int = 7,
) -> RolePlan:
    """Pass 1 and the role decisions alone (no checks run): the plan validate would apply."""
    if isinstance(source, pd.DataFrame):
        source = FrameSource(source, batch_rows)
    table_schema = TableSchema.model_validate(schema or {})
    evidence = RoleEvidence()
    types = column_types(source, table_schema, Report(), evidence)
    assert types is not None
    params = parse_params({"data": {"target": "y"}, **(sections or {})})
    return decide_roles(evidence, types, table_schema, params)


def table(**columns) -> pd.DataFrame:
    """N rows: the given columns, a numeric feature and the target y."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({**columns, "x": rng.normal(size=N), "y": ["a", "b", "c"] * (N // 3)})


def role(plan: RolePlan, column: str) -> tuple[str, str, str]:
    d = plan.decisions[column]
    return d.role, d.why, d.action


def test_a_text_column_with_a_value_per_row_is_an_identifier_and_dropped():
    names = [f"user{i}" for i in range(N)]
    plan = plan_of(table(user=names, nearly=[*names[:-2], "u", "u"], codes=["p", "q"] * 15))
    assert role(plan, "user") == ("identifier", "30 distinct of 30 values", "dropped")
    assert role(plan, "nearly")[:2] == ("identifier", "29 distinct of 30 values")  # >= 0.9
    assert role(plan, "codes")[0] == "categorical"
    assert plan.drop == ["user", "nearly"]
    [user, _] = plan.warnings()
    assert user["rule"] == "not an identifier" and user["column"] == "user"
    assert user["severity"] == "warn" and not user["passed"]


def test_below_the_distinct_share_or_the_fewest_values_a_text_column_is_kept():
    names = [f"user{i}" for i in range(N)]
    plan = plan_of(table(some=names[:25] + ["u"] * 5, few=names[:19] + [None] * 11))
    assert role(plan, "some")[0] == "categorical"  # 26 distinct of 30 < ID_SHARE
    assert role(plan, "few")[0] == "categorical"  # 19 values < ID_MIN_VALUES


@pytest.mark.parametrize("name", ["", "Unnamed: 0", "n"])
@pytest.mark.parametrize("start", [0, 1])
def test_an_integer_row_number_is_an_identifier_whatever_its_name(name, start):
    plan = plan_of(table(**{name: np.arange(start, start + N)}))
    assert role(plan, name)[:2] == (
        "identifier",
        f"a row number: {start}, {start + 1}, ... {start + N - 1}",
    )


def test_an_integer_measurement_is_numeric_even_when_every_value_differs():
    income = np.random.default_rng(1).permutation(np.arange(20_000, 20_000 + N) * 7)
    plan = plan_of(
        table(
            income=income,
            customer_id=income,  # the same values under a key's name: an identifier
            PassengerId=income,
            shop_id=np.r_[income[:-1], income[0]],  # a key's name but a repeat: not one
            counted=np.arange(2, N + 2),  # counts up, but does not start at 0 or 1
        )
    )
    assert role(plan, "income") == ("numeric", "whole numbers", "scaled")
    assert role(plan, "customer_id")[:2] == (
        "identifier",
        "named like a key, 30 distinct of 30 values",
    )
    assert role(plan, "PassengerId")[0] == "identifier"
    assert role(plan, "shop_id")[0] == "numeric"
    assert role(plan, "counted")[0] == "numeric"


def test_a_constant_column_is_dropped_but_one_value_with_nulls_is_kept():
    plan = plan_of(
        table(c=["same"] * N, k=[3] * N, maybe=["yes"] * (N - 2) + [None] * 2), batch_rows=4
    )
    assert role(plan, "c") == ("constant", "one value ('same') in all 30 rows, no nulls", "dropped")
    assert role(plan, "k")[0] == "constant"
    assert role(plan, "maybe") == ("categorical", "text values", "encoded as categories")
    assert [w["rule"] for w in plan.warnings()] == ["not constant", "not constant"]


def test_iso_date_text_becomes_numeric_features_in_utc():
    stamps = ["2024-01-31", "2024/02/29 12:30", "2024-03-01T00:00:00Z", "2024-03-01T01:00+02:00"]
    days = ["2024-01-31", "2024-02-01", " 2024-02-02 ", None, "2024-02-03", "2024-02-04"]
    plan = plan_of(table(at=stamps * 7 + stamps[:2], day=days * 5))
    assert plan.dates == {
        "at": ["year", "month", "day", "dayofweek", "hour", "days"],
        "day": ["year", "month", "day", "dayofweek", "days"],  # all midnight: no hour
    }
    assert role(plan, "at")[1] == "30 of 30 values are ISO-like dates, e.g. '2024-01-31'"
    assert (
        role(plan, "day")[2] == "replaced by day_year, day_month, day_day, day_dayofweek, day_days"
    )
    df = pd.DataFrame({"at": [*stamps, "2024-02-30", "soon"]})
    out, bad = date_features(df, plan.dates | {"day": []})
    assert list(out.columns) == [f"at_{p}" for p in plan.dates["at"]]
    assert out["at_hour"].tolist()[:4] == [0, 12, 0, 23]  # +02:00 is 23:00 UTC the day before
    assert out["at_day"].tolist()[:4] == [31, 29, 1, 29]
    assert out["at_dayofweek"].tolist()[:2] == [2, 3]  # Wednesday, Thursday
    assert out["at_days"].iloc[1] == pytest.approx(19782.520833333)
    assert out.iloc[4:].isna().all().all()  # not dates: null
    assert bad["at"].tolist() == ["2024-02-30", "soon"] and all(t == np.float64 for t in out.dtypes)


def test_text_that_is_mostly_not_dates_is_not_a_date():
    plan = plan_of(table(when=["2024-01-31"] * 27 + ["soon", "later", "never"]))
    assert role(plan, "when")[0] == "categorical"  # 90% dates < DATE_SHARE


def test_a_parquet_timestamp_is_a_date_converted_to_utc(tmp_path):
    when = pd.date_range("2024-06-01 08:00", periods=N, freq="D", tz="Europe/Paris")
    table(when=when).to_parquet(tmp_path / "t.parquet", row_group_size=8)
    plan = plan_of(RawFile(tmp_path / "t.parquet", 8))
    assert role(plan, "when")[:2] == ("date", "a timestamp column")
    assert "hour" in plan.dates["when"]
    frame = next(RawFile(tmp_path / "t.parquet", 8).batches())
    out, bad = date_features(frame, plan.dates)
    assert out["when_hour"].iloc[0] == 6 and not bad  # 08:00 in Paris in June is 06:00 UTC
    assert out["when_days"].iloc[0] == pytest.approx(19875.25)


def test_clean_dates_drop_drops_the_date_columns():
    plan = plan_of(
        table(day=["2024-01-31"] * 29 + ["2024-02-01"]), {}, {"clean": {"dates": "drop"}}
    )
    assert plan.dates == {"day": []}
    assert role(plan, "day")[2] == "dropped (clean.dates: drop)"
    applied = RoleApplier(plan, "drop").apply(table(day=["2024-01-31"] * N))
    assert list(applied.columns) == ["x", "y"]


def test_the_schema_file_declares_any_role_and_wins():
    names = [f"user{i}" for i in range(N)]
    plan = plan_of(
        table(user=names, code=names, x2=np.arange(N) * 1.5, d=["2024-01-31"] * 28 + ["x"] * 2),
        {
            "columns": {
                "user": {"type": "categorical"},
                "x2": {"type": "identifier"},
                "d": {"type": "date"},
            }
        },
    )
    assert role(plan, "user") == (
        "categorical",
        "declared in the schema file",
        "encoded as categories",
    )
    assert role(plan, "code")[0] == "identifier"  # not declared: inferred
    assert role(plan, "x2")[::2] == ("identifier", "dropped")
    assert role(plan, "d")[0] == "date"  # below DATE_SHARE, but declared
    assert [w["column"] for w in plan.warnings()] == ["code"]  # a declared drop is no warning


def test_a_column_the_schema_names_or_the_split_groups_by_is_never_inferred_away():
    names = [f"user{i}" for i in range(N)]
    plan = plan_of(
        table(patient=names, ref=names, c=["k"] * N),
        {"columns": {"ref": {"nullable": False}}, "units": {"c": {"scale": 2}}},
        {"split": {"group": "patient"}},
    )
    assert role(plan, "patient")[::2] == (
        "categorical",
        "kept to group rows in the split; not a feature",
    )
    assert role(plan, "ref")[0] == "categorical" and role(plan, "c")[0] == "categorical"
    assert plan.drop == []


def problems(plan: RolePlan) -> dict[str | None, str]:
    """The failed rules of roles that cannot apply: column -> observed."""
    assert all(not r["passed"] and r["severity"] == "fail" for r in plan.problems)
    return {r["column"]: r["observed"] for r in plan.problems}


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"columns": {"y": {"type": "identifier"}}}, "would remove data.target 'y'"),
        ({"columns": {"x": {"type": "date"}}}, "type: date needs ISO-like date text"),
    ],
)
def test_a_declared_role_that_cannot_apply_is_a_failed_rule_naming_it(schema, fragment):
    plan = plan_of(table(), schema)
    [(column, observed)] = problems(plan).items()
    assert column in schema["columns"] and fragment in observed
    assert plan.decisions[column].role in ("numeric", "categorical")  # as if undeclared


def test_a_timestamp_column_may_not_be_declared_numeric_nor_given_units_or_encoding(tmp_path):
    when = pd.date_range("2024-06-01", periods=N, freq="D")
    table(a=when, b=when, c=when).to_parquet(tmp_path / "t.parquet")
    plan = plan_of(
        RawFile(tmp_path / "t.parquet", 8),
        {
            "columns": {"a": {"type": "numeric"}},
            "units": {"b": {"scale": 2}},
            "encode": {"c": {"method": "ordinal"}},
        },
    )
    found = problems(plan)
    assert "type: numeric on the timestamp column 'a'; declare type: date" in found["a"]
    assert found["b"].startswith("schema units.b: 'b' is a date (a timestamp column; named")
    assert found["b"].endswith("remove units.b")
    assert "remove encode.c" in found["c"]
    assert set(plan.dates) == {"a", "b", "c"}  # each stays a date


def test_date_features_may_not_overwrite_a_column():
    plan = plan_of(table(d=["2024-01-31", "2024-02-01"] * 15, d_year=np.arange(N) * 0.5))
    assert problems(plan) == {
        "d": "date column 'd' would become 'd_year', which the table already has; rename one "
        "of them, or set clean.dates: drop"
    }
    assert plan.dates == {"d": []} and role(plan, "d")[2] == "dropped ('d_year' is taken)"


def test_a_table_left_without_a_feature_column_fails_naming_what_dropped_each():
    names = [f"n{i}" for i in range(N)]
    plan = plan_of(
        pd.DataFrame({"name": names, "k": ["same"] * N, "x": 1.5, "d": ["2024-01-31", None] * 15}),
        {"drop": ["x"], "columns": {"x": {"type": "numeric"}, "k": {"type": "constant"}}},
        {"clean": {"dates": "drop"}, "data": {"target": "name"}},
    )
    assert problems(plan) == {
        None: "no column besides data.target and split.group is kept ('k' (constant), 'x' "
        "(drop: in the schema file), 'd' (date (clean.dates: drop))); declare the type: of "
        "one in the schema file (numeric, categorical, boolean...), or remove it from drop:, "
        "or set clean.dates: features"
    }
    assert problems(plan_of(table(), sections={"clean": {"dates": "drop"}})) == {}


def test_validate_reports_every_role_problem_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """A schema file whose roles cannot apply fails validate as rules: the report lists each,
    and an earlier run's outputs are removed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    df = table(user=[f"u{i}" for i in range(N)], d=["2024-01-31", "2024-02-01"] * 15)
    df.assign(d_year=1.5).to_csv(tmp_path / "data/raw/t.csv", index=False)
    (tmp_path / "params.yaml").write_text(
        "data: {path: data/raw/t.csv, target: y}\nvalidate: {min_rows: 10, min_rows_per_class: 2}\n"
    )
    stale = (io.VALIDATED, io.CLEANING, io.TASK, io.VALIDATION_REPORT)
    for path in (*stale, io.VALIDATION_REPORT.with_suffix(".md")):  # an earlier run's
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    (tmp_path / "data/raw/t.schema.yaml").write_text("columns: {y: {type: constant}}\n")
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert "would remove data.target 'y'" in err and "'d' would become 'd_year'" in err
    assert "Traceback" not in err
    assert [path.exists() for path in stale] == [False, False, False, True]
    page = io.VALIDATION_REPORT.with_suffix(".md").read_text()
    assert "**FAILED**" in page and "date features do not overwrite a column" in page
    # refused before any rule (the schema file drops the target): no report is left either
    (tmp_path / "data/raw/t.schema.yaml").write_text("drop: [y]\n")
    assert main(["validate"]) == 1
    assert not io.VALIDATION_REPORT.exists()
    assert not io.VALIDATION_REPORT.with_suffix(".md").exists()


def test_roles_do_not_depend_on_the_batch_size_nor_on_rows_past_the_sample(monkeypatch):
    """Distinct values and dates are counted on the first ROLE_ROWS rows whatever the batches;
    a repeat after them does not matter, one value throughout is followed to the end."""
    monkeypatch.setattr(roles, "ROLE_ROWS", 25)
    names = [f"user{i}" for i in range(N)]
    df = table(
        user=names[:26] + ["user0"] * 4,  # 26 distinct in the first 25 rows; repeats after
        c=["k"] * (N - 1) + ["other"],  # not constant: only the last row says so
        d=["2024-01-01"] * 25 + ["2024-01-01 10:00"] * 5,  # times only after the sample
    )
    reports = {rows: plan_of(df, batch_rows=rows).report() for rows in (1, 4, 7, 25, 1000)}
    first = reports[1]
    assert all(report == first for report in reports.values())
    plan = plan_of(df)
    assert role(plan, "user")[:2] == (
        "identifier",
        "25 distinct of 25 values (in the first 25 rows)",
    )
    assert role(plan, "c")[0] == "categorical"
    assert plan.dates["d"] == ["year", "month", "day", "dayofweek", "days"]


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.sampled_from(["a", " a", "1"]) | st.text(max_size=2), max_size=30),
    rows=st.integers(1, 12),
)
def test_distinct_values_are_counted_one_batch_at_a_time(values, rows):
    evidence = roles.Evidence("text")
    column = pd.Series(values, dtype=object)
    for start in range(0, len(column), rows):
        batch = column.iloc[start : start + rows]
        evidence.sampled += len(batch)
        evidence._track_distinct(batch)
    assert (0 if evidence.distinct is None else len(evidence.distinct)) == len(set(values))


def test_penguins_columns_keep_their_types():
    """No penguins column is an identifier, constant or date: inferred alone, or with its
    schema file (year is dropped by the file, as before)."""
    path = ROOT / "data/raw/penguins.csv"
    inferred = plan_of(RawFile(path, 100), sections={"data": {"target": "species"}})
    assert {c: d.role for c, d in inferred.decisions.items()} == {
        "species": "categorical",
        "island": "categorical",
        "bill_length_mm": "numeric",
        "bill_depth_mm": "numeric",
        "flipper_length_mm": "numeric",
        "body_mass_g": "numeric",
        "sex": "categorical",
        "year": "numeric",
    }
    schema = yaml.safe_load((ROOT / "data/raw/penguins.schema.yaml").read_text())
    declared = plan_of(RawFile(path, 100), schema, {"data": {"target": "species"}})
    assert declared.drop == [] and declared.dates == {}
    assert role(declared, "year")[::2] == ("numeric", "dropped")


def test_validate_drops_identifiers_and_constants_before_duplicates_and_reports_each_role():
    """An id makes every row unique; dropped first, the repeated rows are found."""
    df = table(
        user=[f"user{i}" for i in range(N)],
        c=["k"] * N,
        day=["2024-01-31", "2024-02-01", "bad"] + ["2024-01-31", "2024-02-01", None] * 9,
    )
    df["y"] = ["a", "b"] * (N // 2)
    df.loc[N - 1, ["x", "y", "day"]] = df.loc[0, ["x", "y", "day"]]
    params = parse_params(
        {
            "data": {"target": "y"},
            "clean": {"missing": "impute", "duplicates": "drop"},
            "validate": {"min_rows": 10, "min_rows_per_class": 2},
        }
    )
    clean, result = validate_table(df, TableSchema(), params, batch_rows=8)
    parts = ("year", "month", "day", "dayofweek", "days")
    assert list(clean.columns) == [*(f"day_{p}" for p in parts), "x", "y"]  # in place
    assert len(clean) == N - 1 and result["cleaning"]["duplicates"]["example_rows"] == [N - 1]
    assert [r["column"] for r in result["roles"]["columns"]] == ["user", "c", "day", "x", "y"]
    assert result["roles"]["drop"] == ["user", "c"]
    bad = next(r for r in result["rules"] if r["rule"] == "ISO-like date or null")
    assert bad["unexpected_count"] == 1 and bad["examples"] == [{"row": 2, "value": "bad"}]
    assert bad["observed"].endswith(
        "declare type: categorical in the schema file, or set clean.dates: drop to drop it"
    )
    page = validation_markdown({**result, "input": "t.csv"})
    assert page.index("## Column roles") < page.index("## Warnings")
    assert "| user | identifier | 30 distinct of 30 values | dropped |" in page


def test_the_stage_warns_of_dropped_columns_by_name_and_records_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    table(user=[f"u{i}" for i in range(N)], day=["2024-01-31", "2024-02-01"] * 15).to_csv(
        tmp_path / "data/raw/t.csv", index=False
    )
    (tmp_path / "params.yaml").write_text(
        "data: {path: data/raw/t.csv, target: y}\nvalidate: {min_rows: 10, min_rows_per_class: 2}\n"
    )
    assert main(["validate"]) == 0
    err = capsys.readouterr().err
    assert (
        "warning: column 'user': not an identifier failed; observed identifier: 30 distinct" in err
    )
    assert "column 'day' is a date (30 of 30 values are ISO-like dates" in err
    assert io.read_json(io.CLEANING)["roles"] == {  # predict needs no dropped column
        "dates": {"day": ["year", "month", "day", "dayofweek", "days"]},
    }
    assert (
        json.loads(io.VALIDATION_REPORT.read_text())["roles"]["columns"][0]["role"] == "identifier"
    )


def test_schema_infer_drafts_roles_with_why_from_another_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("data: {target: y}\n")  # data.path: penguins, not here
    df = table(
        **{"": np.arange(1, N + 1)},
        user=[f"u{i}" for i in range(N)],
        c=["k"] * N,
        day=["2024-01-31 10:00", "2024-01-31"] * 15,
        flag=[True, False] * 15,
    )
    df.to_csv(tmp_path / "mine.csv", index=False)
    assert main(["schema", "--infer", "--input", "mine.csv", "--output", "draft.yaml"]) == 0
    assert "validate reads mine.schema.yaml" in capsys.readouterr().out
    text = (tmp_path / "draft.yaml").read_text()
    lines = {line.split(":")[0].strip(): line for line in text.splitlines()}
    assert lines["user"].endswith("# identifier: 30 distinct of 30 values")
    assert lines["user"].startswith("  user: {type: identifier}")
    assert lines["c"].endswith("# constant: one value ('k') in all 30 rows, no nulls")
    assert "day: {type: date}" in lines["day"] and "# date: 30 of 30 values" in lines["day"]
    assert "flag: {type: boolean, allowed: [false, true]}" in lines["flag"]
    assert (
        lines["x"].strip().startswith("x: {type: numeric, min: ")
        and "# numeric: numbers" in lines["x"]
    )
    assert "# categorical: text values; data.target" in lines["y"]
    assert "# '': {type: identifier}" in text  # a nameless column is left to inference
    (tmp_path / "mine.schema.yaml").write_text(text)
    schema, _ = load_schema(tmp_path / "mine.csv")
    assert schema.columns["day"].type == "date" and "" not in schema.columns
    assert main(["schema", "--infer", "--input", "mine.csv", "--output", "draft.yaml"]) == 1
    assert "draft.yaml exists" in capsys.readouterr().err


def test_predict_applies_the_same_drops_and_date_features_to_new_rows():
    dates = {"day": ["year", "month", "day", "dayofweek", "days"]}
    train = table(day=["2024-01-31", "2024-02-01", "2024-02-02"] * 10)
    featured, _ = date_features(train, dates)
    pre = Preprocessor("y", "multiclass").fit_frame(featured)
    cleaning = {
        "target": "y",
        "missing": "drop",
        "schema": TableSchema().model_dump(mode="json"),
        "roles": {"dates": dates},
    }
    names = raw_names(pre, TableSchema(), dates)
    assert set(names.values()) == {"x", "day"}  # the id is not needed, the date column is
    new = pd.DataFrame(
        {"user": ["a", "b", "c"], "day": ["2024-02-01", "2024/02/01", "nope"], "x": [0.5] * 3},
        index=[10, 11, 12],
    )
    features, skipped, _ = prepare(new, cleaning, pre)
    assert list(features.index) == [10, 11]
    assert features.iloc[0].tolist() == features.iloc[1].tolist()
    expected = pre.transform(
        date_features(new.drop(columns="user"), dates)[0].iloc[:1], target=False
    )
    np.testing.assert_array_equal(features.iloc[:1].to_numpy(), expected.table.to_numpy())
    assert skipped == {12: "null in day (not a date) (clean.missing: drop)"}
