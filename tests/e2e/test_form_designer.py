"""The overlay designer in a real browser: a form admin drags a placement on the scanned page, nudges it with
the keyboard, saves, and the stored layout moved by as many millimetres as the pointer did (3 px per mm)."""

import io

import pytest
from PIL import Image

from forms_engine import services
from forms_engine.models import FormVersion
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PX_PER_MM = 3


def _scan() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (420, 594), (250, 250, 240)).save(buffer, format="PNG")
    return buffer.getvalue()


def _overlay_draft(actor) -> FormVersion:
    version = services.form_template_create(
        code="kosekisho", name="戸籍証明書交付請求書", mode="overlay", actor=actor
    )
    services.form_asset_put(
        version=version, name="page1.png", content=_scan(), content_type="image/png", actor=actor
    )
    field = {"key": "seikyusha", "label": "請求者", "type": "mj_text", "prefill": "resident.shimei"}
    layout = {
        "mode": "overlay",
        "pages": [{"background": "page1.png"}],
        "placements": [{"value": "fields.seikyusha", "x": 30.0, "y": 40.0, "width": 60.0, "height": 8.0}],
    }
    return services.form_version_update(
        version=version, content={"fields": [field], "layout": layout}, actor=actor
    )


def test_drag_a_placement_and_save(browser, live_server) -> None:
    from playwright.sync_api import expect

    admin = UserFactory(roles=["form_admin"])
    version = _overlay_draft(admin)

    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 1400})
    refused: list[str] = []  # what the page's Content-Security-Policy blocked: nothing may be
    context.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page = context.new_page()
    page.goto(f"{live_server.url}/forms/kosekisho/v1/layout/")
    page.get_by_label("ユーザー名").fill(admin.username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()

    sheet = page.get_by_test_id("sheet")
    image_url = f"{live_server.url}/forms/kosekisho/v1/assets/page1.png?v={version.assets.get().sha256[:12]}"
    expect(sheet).to_have_css("background-image", f'url("{image_url}")')
    box = page.get_by_test_id("placement-0")
    expect(box).to_have_text("fields.seikyusha")
    box.scroll_into_view_if_needed()
    bounds = box.bounding_box()
    assert bounds is not None
    assert bounds["width"] == pytest.approx(60 * PX_PER_MM, abs=1)

    start_x, start_y = bounds["x"] + 20, bounds["y"] + bounds["height"] / 2
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    page.mouse.move(start_x + 30, start_y + 20, steps=4)
    page.mouse.move(start_x + 61, start_y + 44, steps=4)
    page.mouse.up()
    expect(page.get_by_test_id("prop-x")).to_have_value("50.5")  # 61 px = 20.33 mm, snapped to 0.5 mm
    page.keyboard.press("ArrowDown")  # the box has the focus: one nudge of 0.5 mm
    expect(page.get_by_test_id("prop-y")).to_have_value("55")

    page.get_by_role("button", name="配置を保存").click()
    expect(page.locator("[data-role=status]")).to_have_text("保存しました。")

    version.refresh_from_db()
    placement = version.layout["placements"][0]
    assert placement["x"] == pytest.approx(30.0 + 61 / PX_PER_MM, abs=0.5)
    assert placement["y"] == pytest.approx(40.0 + 44 / PX_PER_MM + 0.5, abs=0.5)
    assert (placement["width"], placement["height"]) == (60.0, 8.0)
    context.close()
    assert refused == []
