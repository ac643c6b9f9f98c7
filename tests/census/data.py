"""A census-shaped data set, made deterministically: the public "Adult" census data is not
available offline. Its 15 columns, with the hyphenated names (``education-num``, ``capital-gain``,
``marital-status``, ...), the string label ``income`` (``<=50K`` / ``>50K``) and the sensitive
attributes (``sex``, ``race``) that fairness slicing needs; the label depends on the features,
so a model learns something. ``corrupt`` makes the kind of bad batch a validation gate must stop."""

from __future__ import annotations

import csv
import os

import numpy as np

COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
           "income"]
LABEL = "income"
EDUCATION = {"HS-grad": 9, "Some-college": 10, "Bachelors": 13, "Masters": 14, "11th": 7, "Doctorate": 16}


def rows(count: int = 3000, seed: int = 0) -> list[list[object]]:
    rng = np.random.default_rng(seed)
    out: list[list[object]] = []
    for _ in range(count):
        age = int(rng.integers(17, 80))
        education = str(rng.choice(list(EDUCATION)))
        sex = str(rng.choice(["Male", "Female"], p=[0.67, 0.33]))
        hours = int(np.clip(rng.normal(40, 10), 1, 99))
        gain = int(rng.choice([0, 0, 0, 0, 0, 0, 0, 2174, 5178, 15024]))
        score = (EDUCATION[education] - 9) * 0.35 + (age - 38) * 0.03 + (hours - 40) * 0.03 + (gain > 5000) * 2.0
        income = ">50K" if score + rng.normal(0, 0.8) > 1.0 else "<=50K"
        out.append([
            age, str(rng.choice(["Private", "Self-emp-not-inc", "Local-gov", "State-gov"])),
            int(rng.integers(20000, 500000)), education, EDUCATION[education],
            str(rng.choice(["Married-civ-spouse", "Never-married", "Divorced"])),
            str(rng.choice(["Tech-support", "Craft-repair", "Sales", "Exec-managerial", "Prof-specialty"])),
            str(rng.choice(["Husband", "Wife", "Own-child", "Not-in-family"])),
            str(rng.choice(["White", "Black", "Asian-Pac-Islander"], p=[0.8, 0.12, 0.08])), sex,
            gain, int(rng.choice([0, 0, 0, 1902])), hours,
            str(rng.choice(["United-States", "Mexico", "Philippines"], p=[0.9, 0.05, 0.05])), income,
        ])
    return out


def corrupt(data: list[list[object]]) -> list[list[object]]:
    """A bad batch: a new label spelling, unknown categories as ``?``, negative ages."""
    bad = [list(r) for r in data]
    for i, row in enumerate(bad):
        if i % 7 == 0:
            row[-1] = f"{row[-1]}."  # ">50K." as in the census test file
        if i % 11 == 0:
            row[1] = "?"
        if i % 13 == 0:
            row[0] = -int(row[0])  # type: ignore[call-overload]
    return bad


def write(folder: str, data: list[list[object]], name: str = "adult.csv") -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(data)
    return path
