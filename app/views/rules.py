"""Rules: the governance rules in force, the state of their alerts and their history, and
a validator for an edited rule file — run through the real loader before anyone puts the
file in the rules folder (a refused file never half-loads)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import queries
from app.resources import database_url, settings
from app.shaping import rules as rules_view
from app.tables import column_config
from app.ui import require_page
from rules.loader import live_rule_paths, rule_files

require_page("views/rules.py")
url = database_url()
st.title("Rules")
paths = live_rule_paths(settings().data_dir)  # the site's folder, else the shipped pack
ruleset, problems = rules_view.load_active(paths)
st.caption("Rule files: " + ", ".join(f"`{p}`" for p in paths))
if problems:
    st.error("The rule files in force are refused; the evaluator keeps the previous rules:\n\n"
             + "\n".join(f"- `{p}`" for p in problems))

tab_active, tab_validate, tab_versions = st.tabs(["Active rules", "Validate a file",
                                                  "Versions"], key="ru_tab")
with tab_active:
    states = queries.rule_states(url)
    table = pd.DataFrame(rules_view.rule_rows(ruleset), columns=rules_view.RULE_COLUMNS)
    for state in ("firing", "pending", "error", "nodata"):
        table[state] = [states.get(rid, {}).get(state, 0) for rid in table["id"]]
    st.dataframe(table, hide_index=True,
                 placeholder="–", key="ru_rules", column_config=column_config(table))
    if not table.empty:
        rule_id = st.selectbox("History of", table["id"].tolist(), key="ru_rule")
        rule = ruleset.by_id[rule_id]
        st.markdown(f"**{rule.name}** — {rule.description}"
                    + (f" [Runbook]({rule.runbook})" if rule.runbook else ""))
        history = queries.rule_history(url, rule_id)
        if history.empty:
            st.caption("No state changes recorded for this rule yet.")
        else:
            st.dataframe(history, hide_index=True, placeholder="–", key="ru_history",
                         column_config=column_config(history))

with tab_validate:
    files = rule_files(paths)
    names = [f.name for f in files]
    chosen = st.selectbox("Start from", names, key="ru_file") if names else ""
    uploaded = st.file_uploader("…or upload a rule file", type=["yaml", "yml"], key="ru_upload")
    if uploaded is not None:
        name, text = uploaded.name, uploaded.getvalue().decode("utf-8", "replace")
    elif chosen:
        name = chosen
        text = next(f for f in files if f.name == chosen).read_text(encoding="utf-8")
    else:
        name, text = "rules.yaml", ""
    edited = st.text_area(f"Edit {name}", value=text, height=360, key=f"ru_text_{name}")
    if st.button("Validate", key="ru_validate", type="primary"):
        found, count = rules_view.validate_text(edited, name)
        if found:
            st.error(f"{len(found)} problem(s); the file would be refused whole:")
            st.code("\n".join(found), language=None)
        else:
            st.success(f"{name}: {count} rule(s) valid. Put it in "
                       f"`{Path(settings().data_dir) / 'rules'}` to use it.")
        st.download_button("Download the edited file", edited.encode(), file_name=name,
                           mime="application/yaml", key="ru_download")

with tab_versions:
    versions = queries.rule_versions(url)
    if versions.empty:
        st.caption("No evaluation has loaded a rule file yet.")
    else:
        st.dataframe(versions, hide_index=True, placeholder="–", key="ru_versions",
                     column_config=column_config(versions))
