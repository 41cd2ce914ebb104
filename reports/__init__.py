"""Charts and documents built from the QBR's data (pure Altair and fpdf2, no Streamlit)."""

from reports import altair_speed

altair_speed.install()
