"""LoanFlow entrypoint: the frame shared by every page (page config, navigation, shared sidebar)."""

from __future__ import annotations

import streamlit as st

from pages.common import ui

ui.configure_page()
ui.init_language()  # before the page titles are translated
page = st.navigation(ui.navigation_pages())
with ui.framed():
    ui.sidebar()
    page.run()
