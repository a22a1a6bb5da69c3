"""Recall: every usage of a recalled lot, serial, device (UDI-DI) or item — where, when, on
whose encounter (patient token) and how far its charge and inventory issue got — with a
CSV for the recall file; and the devices used after their expiry, an exception of their
own. The URL keeps the look-up: ``/recall?by=lot&value=LOT2311A``."""

from __future__ import annotations

import streamlit as st

from app import queries
from app.resources import database_url
from app.tables import column_config, no_none, with_times
from app.ui import require_page

BY = {"lot": "Lot", "serial": "Serial", "udi_di": "UDI-DI (GTIN)", "item": "Item"}
EXAMPLE = {"lot": "LOT2311A", "serial": "SN000123456", "udi_di": "00884838001234",
           "item": "ITM-100234"}
EXPIRED_SHOWN = 500

require_page("views/recall.py")
url = database_url()
st.title("Recall")

if "recall_by" not in st.session_state:
    wanted = st.query_params.get("by", "lot")
    st.session_state["recall_by"] = wanted if wanted in BY else "lot"
if "recall_value" not in st.session_state:
    st.session_state["recall_value"] = st.query_params.get("value", "")

with st.container(border=True):
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    by = c1.selectbox("Look up by", list(BY), format_func=BY.get, key="recall_by")
    value = c2.text_input(BY[by], key="recall_value",
                          placeholder=f"e.g. {EXAMPLE[by]}").strip()
st.query_params["by"] = by
if value:
    st.query_params["value"] = value
else:
    st.query_params.pop("value", None)

if not value:
    st.info("Enter a lot, serial, device identifier or item to list every usage of it.")
else:
    found = no_none(with_times(queries.recall_usages(url, by, value)))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Usages", f"{len(found):,}")
    m2.metric("Facilities", f"{found['facility_id'].nunique():,}")
    m3.metric("Encounters", f"{found['encounter_id'].nunique():,}")
    m4.metric("Used after expiry", f"{int(found['expired'].sum()) if len(found) else 0:,}",
              help="The facility's date of use is after the expiry date of the device's UDI.")
    if found.empty:
        st.info(f"No usage of {BY[by].lower()} {value} in the store.")
    else:
        st.dataframe(found, hide_index=True, placeholder="–", key="recall_rows",
                     column_config=column_config(found))
        st.download_button(f"Download {len(found):,} as CSV",
                           lambda: queries.recall_csv(url, by, value),
                           file_name=f"recall-{by}-{value}.csv", mime="text/csv",
                           key="recall_csv", icon=":material/download:")

st.subheader("Devices used after their expiry")
expired = no_none(with_times(queries.expired_devices(url, EXPIRED_SHOWN)))
if expired.empty:
    st.caption("No device was used after the expiry date of its UDI.")
else:
    shown = (f"The newest {EXPIRED_SHOWN:,}" if len(expired) == EXPIRED_SHOWN
             else f"{len(expired):,}")
    st.caption(f"{shown} usages of a device whose UDI expiry date lies before the day of use.")
    st.dataframe(expired, hide_index=True, placeholder="–", key="recall_expired",
                 column_config=column_config(expired))
