"""The resident tablet (R-C5): paired once to a counter, it shows that counter's session while it waits for the
resident — the card PIN pad, then each form to review and the signature — in the resident's language.

The tablet is not a Django user. It holds a token in an HttpOnly cookie (``madoguchi_tablet``) and every request
is checked against its pairing; CSRF protection stays on. It only ever shows what
``selectors.tablet_session`` returns, and a request about any other session is refused (another counter's: 403;
its own counter's that moved on: 409). The screen follows the session through the push channel (``/tablet/events``)
and is fetched again, server-rendered, whenever the session changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from forms_engine.schema import FieldSpec
from madoguchi import push
from madoguchi.throttle import over_limit

from . import selectors, services
from .models import CounterSession, SessionState, TabletPairing

COOKIE = "madoguchi_tablet"
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap a cookie's lifetime at 400 days
IDLE_SECONDS_DEFAULT = 120
THANKS_SECONDS = 10

# Each language's own name, in the order of the chooser.
LANGUAGE_NAMES: dict[str, str] = {
    "ja": "日本語",
    "ja-easy": "やさしい にほんご",
    "en": "English",
    "zh-hans": "简体中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
    "ne": "नेपाली",
}
# The HTML ``lang`` of each language; やさしい日本語 is Japanese to a browser and a screen reader.
HTML_LANG: dict[str, str] = {"ja-easy": "ja", "zh-hans": "zh-Hans"}

# The tablet's own words (buttons, headings, messages) in the resident's languages, Japanese first. Kept here
# rather than in Django's .po files: Django has no locale for やさしい日本語, and the clerk screens need none of these.
CHROME: dict[str, dict[str, str]] = {
    "ja": {
        "title": "確認用タブレット",
        "language": "表示言語",
        "welcome_heading": "ようこそ",
        "welcome_text": "職員がご案内します。しばらくお待ちください。",
        "pin_heading": "マイナンバーカードの暗証番号",
        "pin_text": "数字4桁の暗証番号を入力して「決定」を押してください。",
        "pin_heading_licence": "運転免許証の暗証番号1",
        "pin_text_licence": "運転免許証を作ったときに決めた数字4桁の暗証番号1を入力して「決定」を押してください。",
        "pin_clear": "訂正",
        "pin_submit": "決定",
        "pin_entered": "入力した桁数",
        "pin_invalid": "暗証番号は数字4桁です。",
        "card_reading": "カードを読み取っています。カードを動かさないでください。",
        "card_wrong_pin": "暗証番号が違います。",
        "card_retries": "あと {n} 回入力できます。",
        "card_last_try": "次に間違えるとカードがロックされます。自信がないときは職員にお申し出ください。",
        "card_place": "カードをカードリーダーに置いてください。",
        "card_locked": "カードがロックされています。職員にお申し出ください。",
        "card_failed": "カードを読み取れませんでした。職員にお申し出ください。",
        "card_read": "カードを読み取りました。",
        "review_heading": "内容のご確認",
        "review_text": "申請書に記入される内容をご確認ください。",
        "form": "申請書",
        "next": "次へ",
        "back": "戻る",
        "blank": "（空欄）",
        "yes": "はい",
        "no": "いいえ",
        "paper_note": "この申請書には、印刷した紙に署名していただきます。",
        "sign_heading": "署名",
        "sign_text": "枠の中に、指でお名前を書いてください。",
        "sign_clear": "書き直す",
        "sign_canvas": "署名欄",
        "sign_needed": "署名をお願いします。",
        "confirm": "確認しました",
        "confirm_text": "内容に間違いがなければ「確認しました」を押してください。",
        "thanks_heading": "ありがとうございました",
        "thanks_text": "職員が手続きを進めます。しばらくお待ちください。",
        "stale": "内容が更新されました。もう一度ご確認ください。",
        "error": "うまくいきませんでした。職員にお申し出ください。",
    },
    "ja-easy": {
        "title": "かくにん タブレット",
        "language": "ことば",
        "welcome_heading": "ようこそ",
        "welcome_text": "しょくいんが あんないします。すこし まって ください。",
        "pin_heading": "マイナンバーカードの あんしょうばんごう",
        "pin_text": "すうじ 4つの あんしょうばんごうを いれて「けってい」を おして ください。",
        "pin_heading_licence": "うんてんめんきょしょうの あんしょうばんごう1",
        "pin_text_licence": "めんきょしょうの すうじ 4つを いれて「けってい」を おして ください。",
        "pin_clear": "なおす",
        "pin_submit": "けってい",
        "pin_entered": "いれた かず",
        "pin_invalid": "あんしょうばんごうは すうじ 4つです。",
        "card_reading": "カードを よんで います。カードを うごかさないで ください。",
        "card_wrong_pin": "あんしょうばんごうが ちがいます。",
        "card_retries": "あと {n}かい いれることが できます。",
        "card_last_try": (
            "つぎに まちがえると カードが つかえなく なります。わからない ときは しょくいんに いって ください。"
        ),
        "card_place": "カードを カードリーダーの うえに おいて ください。",
        "card_locked": "カードが ロックされました。しょくいんに いって ください。",
        "card_failed": "カードを よむことが できませんでした。しょくいんに いって ください。",
        "card_read": "カードを よみました。",
        "review_heading": "ないようの かくにん",
        "review_text": "しんせいしょに かく ないようを みて ください。",
        "form": "しんせいしょ",
        "next": "つぎへ",
        "back": "もどる",
        "blank": "（なし）",
        "yes": "はい",
        "no": "いいえ",
        "paper_note": "この しんせいしょは、かみに なまえを かいて もらいます。",
        "sign_heading": "なまえ（サイン）",
        "sign_text": "わくの なかに ゆびで なまえを かいて ください。",
        "sign_clear": "かきなおす",
        "sign_canvas": "サインを かく ところ",
        "sign_needed": "なまえを かいて ください。",
        "confirm": "かくにんしました",
        "confirm_text": "まちがいが なければ「かくにんしました」を おして ください。",
        "thanks_heading": "ありがとう ございました",
        "thanks_text": "しょくいんが てつづきを します。すこし まって ください。",
        "stale": "ないようが かわりました。もう いちど みて ください。",
        "error": "うまく いきませんでした。しょくいんに いって ください。",
    },
    "en": {
        "title": "Confirmation tablet",
        "language": "Language",
        "welcome_heading": "Welcome",
        "welcome_text": "A member of staff will help you. Please wait a moment.",
        "pin_heading": "My Number Card PIN",
        "pin_text": "Enter your 4-digit PIN and press “OK”.",
        "pin_heading_licence": "Driver's licence PIN 1",
        "pin_text_licence": "Enter the 4-digit PIN 1 you chose for your driver's licence and press “OK”.",
        "pin_clear": "Clear",
        "pin_submit": "OK",
        "pin_entered": "Digits entered",
        "pin_invalid": "The PIN has 4 digits.",
        "card_reading": "Reading your card. Please do not move the card.",
        "card_wrong_pin": "The PIN is incorrect.",
        "card_retries": "You can try {n} more time(s).",
        "card_last_try": (
            "If the next PIN is wrong, the card will be locked. If you are not sure, please tell a member of staff."
        ),
        "card_place": "Please place your card on the card reader.",
        "card_locked": "The card is locked. Please tell a member of staff.",
        "card_failed": "The card could not be read. Please tell a member of staff.",
        "card_read": "Your card has been read.",
        "review_heading": "Please check the details",
        "review_text": "Please check what will be written on each form.",
        "form": "Form",
        "next": "Next",
        "back": "Back",
        "blank": "(blank)",
        "yes": "Yes",
        "no": "No",
        "paper_note": "You will sign this form on paper after it is printed.",
        "sign_heading": "Signature",
        "sign_text": "Please write your name inside the box with your finger.",
        "sign_clear": "Sign again",
        "sign_canvas": "Signature box",
        "sign_needed": "Please sign first.",
        "confirm": "I have checked",
        "confirm_text": "If everything is correct, press “I have checked”.",
        "thanks_heading": "Thank you",
        "thanks_text": "A member of staff will continue with your procedures. Please wait a moment.",
        "stale": "The content has been updated. Please check it again.",
        "error": "Something went wrong. Please tell a member of staff.",
    },
    "zh-hans": {
        "title": "确认用平板电脑",
        "language": "语言",
        "welcome_heading": "欢迎光临",
        "welcome_text": "工作人员将为您办理。请稍候。",
        "pin_heading": "个人编号卡（My Number卡）密码",
        "pin_text": "请输入4位数字密码，然后按“确定”。",
        "pin_heading_licence": "驾驶证密码1",
        "pin_text_licence": "请输入办理驾驶证时设定的4位数字密码1，然后按“确定”。",
        "pin_clear": "更正",
        "pin_submit": "确定",
        "pin_entered": "已输入位数",
        "pin_invalid": "密码为4位数字。",
        "card_reading": "正在读取卡片。请不要移动卡片。",
        "card_wrong_pin": "密码错误。",
        "card_retries": "还可以输入 {n} 次。",
        "card_last_try": "如果再次输错，卡片将被锁定。如不确定，请告知工作人员。",
        "card_place": "请将卡片放在读卡器上。",
        "card_locked": "卡片已被锁定。请告知工作人员。",
        "card_failed": "无法读取卡片。请告知工作人员。",
        "card_read": "已读取卡片。",
        "review_heading": "请确认内容",
        "review_text": "请确认各申请书上将填写的内容。",
        "form": "申请书",
        "next": "下一步",
        "back": "返回",
        "blank": "（空白）",
        "yes": "是",
        "no": "否",
        "paper_note": "此申请书打印后，请在纸上签名。",
        "sign_heading": "签名",
        "sign_text": "请用手指在框内写下您的姓名。",
        "sign_clear": "重新签名",
        "sign_canvas": "签名栏",
        "sign_needed": "请先签名。",
        "confirm": "我已确认",
        "confirm_text": "如内容无误，请按“我已确认”。",
        "thanks_heading": "谢谢",
        "thanks_text": "工作人员将继续为您办理手续。请稍候。",
        "stale": "内容已更新。请再次确认。",
        "error": "操作未能完成。请告知工作人员。",
    },
    "ko": {
        "title": "확인용 태블릿",
        "language": "언어",
        "welcome_heading": "어서 오세요",
        "welcome_text": "직원이 안내해 드립니다. 잠시 기다려 주십시오.",
        "pin_heading": "마이넘버 카드 비밀번호",
        "pin_text": "숫자 4자리 비밀번호를 입력하고 「확인」을 눌러 주십시오.",
        "pin_heading_licence": "운전면허증 비밀번호 1",
        "pin_text_licence": "운전면허증을 만들 때 정한 숫자 4자리 비밀번호 1을 입력하고 「확인」을 눌러 주십시오.",
        "pin_clear": "정정",
        "pin_submit": "확인",
        "pin_entered": "입력한 자릿수",
        "pin_invalid": "비밀번호는 숫자 4자리입니다.",
        "card_reading": "카드를 읽고 있습니다. 카드를 움직이지 마십시오.",
        "card_wrong_pin": "비밀번호가 틀렸습니다.",
        "card_retries": "앞으로 {n}번 더 입력할 수 있습니다.",
        "card_last_try": "다음에 틀리면 카드가 잠깁니다. 확실하지 않으면 직원에게 말씀해 주십시오.",
        "card_place": "카드를 카드 리더기 위에 올려 주십시오.",
        "card_locked": "카드가 잠겼습니다. 직원에게 말씀해 주십시오.",
        "card_failed": "카드를 읽지 못했습니다. 직원에게 말씀해 주십시오.",
        "card_read": "카드를 읽었습니다.",
        "review_heading": "내용 확인",
        "review_text": "신청서에 기재될 내용을 확인해 주십시오.",
        "form": "신청서",
        "next": "다음",
        "back": "이전",
        "blank": "(공란)",
        "yes": "예",
        "no": "아니요",
        "paper_note": "이 신청서는 인쇄된 종이에 서명하시게 됩니다.",
        "sign_heading": "서명",
        "sign_text": "칸 안에 손가락으로 성함을 써 주십시오.",
        "sign_clear": "다시 쓰기",
        "sign_canvas": "서명란",
        "sign_needed": "먼저 서명해 주십시오.",
        "confirm": "확인했습니다",
        "confirm_text": "내용이 맞으면 「확인했습니다」를 눌러 주십시오.",
        "thanks_heading": "감사합니다",
        "thanks_text": "직원이 절차를 진행합니다. 잠시 기다려 주십시오.",
        "stale": "내용이 변경되었습니다. 다시 확인해 주십시오.",
        "error": "처리하지 못했습니다. 직원에게 말씀해 주십시오.",
    },
    "vi": {
        "title": "Máy tính bảng xác nhận",
        "language": "Ngôn ngữ",
        "welcome_heading": "Xin chào",
        "welcome_text": "Nhân viên sẽ hướng dẫn quý vị. Xin vui lòng chờ một chút.",
        "pin_heading": "Mã PIN của thẻ My Number",
        "pin_text": "Hãy nhập mã PIN gồm 4 chữ số rồi nhấn “Xác nhận”.",
        "pin_heading_licence": "Mã PIN 1 của bằng lái xe",
        "pin_text_licence": "Hãy nhập mã PIN 1 gồm 4 chữ số đã đặt khi làm bằng lái xe rồi nhấn “Xác nhận”.",
        "pin_clear": "Sửa",
        "pin_submit": "Xác nhận",
        "pin_entered": "Số chữ số đã nhập",
        "pin_invalid": "Mã PIN gồm 4 chữ số.",
        "card_reading": "Đang đọc thẻ. Xin đừng di chuyển thẻ.",
        "card_wrong_pin": "Mã PIN không đúng.",
        "card_retries": "Quý vị còn có thể nhập {n} lần.",
        "card_last_try": "Nếu nhập sai lần nữa, thẻ sẽ bị khóa. Nếu không chắc chắn, xin hãy báo cho nhân viên.",
        "card_place": "Xin hãy đặt thẻ lên đầu đọc thẻ.",
        "card_locked": "Thẻ đã bị khóa. Xin hãy báo cho nhân viên.",
        "card_failed": "Không đọc được thẻ. Xin hãy báo cho nhân viên.",
        "card_read": "Đã đọc thẻ.",
        "review_heading": "Xác nhận nội dung",
        "review_text": "Xin hãy kiểm tra nội dung sẽ được ghi vào từng tờ đơn.",
        "form": "Đơn",
        "next": "Tiếp",
        "back": "Quay lại",
        "blank": "(để trống)",
        "yes": "Có",
        "no": "Không",
        "paper_note": "Quý vị sẽ ký tên vào đơn này trên giấy sau khi in.",
        "sign_heading": "Chữ ký",
        "sign_text": "Xin hãy dùng ngón tay viết tên vào trong khung.",
        "sign_clear": "Ký lại",
        "sign_canvas": "Khung chữ ký",
        "sign_needed": "Xin hãy ký tên trước.",
        "confirm": "Tôi đã kiểm tra",
        "confirm_text": "Nếu nội dung đúng, xin nhấn “Tôi đã kiểm tra”.",
        "thanks_heading": "Xin cảm ơn",
        "thanks_text": "Nhân viên sẽ tiếp tục thủ tục. Xin vui lòng chờ một chút.",
        "stale": "Nội dung đã được cập nhật. Xin hãy kiểm tra lại.",
        "error": "Đã xảy ra lỗi. Xin hãy báo cho nhân viên.",
    },
    "pt": {
        "title": "Tablet de confirmação",
        "language": "Idioma",
        "welcome_heading": "Bem-vindo(a)",
        "welcome_text": "Um funcionário vai atendê-lo(a). Aguarde um momento, por favor.",
        "pin_heading": "Senha do cartão My Number",
        "pin_text": "Digite a senha de 4 dígitos e toque em “OK”.",
        "pin_heading_licence": "Senha 1 da carteira de motorista",
        "pin_text_licence": "Digite a senha 1 de 4 dígitos definida ao tirar a carteira de motorista e toque em “OK”.",
        "pin_clear": "Corrigir",
        "pin_submit": "OK",
        "pin_entered": "Dígitos digitados",
        "pin_invalid": "A senha tem 4 dígitos.",
        "card_reading": "Lendo o cartão. Não mova o cartão.",
        "card_wrong_pin": "Senha incorreta.",
        "card_retries": "Restam {n} tentativa(s).",
        "card_last_try": (
            "Se errar a próxima senha, o cartão será bloqueado. Se não tiver certeza, fale com um funcionário."
        ),
        "card_place": "Coloque o cartão no leitor de cartões.",
        "card_locked": "O cartão está bloqueado. Fale com um funcionário.",
        "card_failed": "Não foi possível ler o cartão. Fale com um funcionário.",
        "card_read": "O cartão foi lido.",
        "review_heading": "Confira os dados",
        "review_text": "Confira o que será escrito em cada formulário.",
        "form": "Formulário",
        "next": "Próximo",
        "back": "Voltar",
        "blank": "(em branco)",
        "yes": "Sim",
        "no": "Não",
        "paper_note": "Este formulário será assinado no papel depois de impresso.",
        "sign_heading": "Assinatura",
        "sign_text": "Escreva seu nome dentro do quadro com o dedo.",
        "sign_clear": "Assinar de novo",
        "sign_canvas": "Quadro de assinatura",
        "sign_needed": "Assine primeiro, por favor.",
        "confirm": "Conferi",
        "confirm_text": "Se estiver tudo certo, toque em “Conferi”.",
        "thanks_heading": "Obrigado(a)",
        "thanks_text": "Um funcionário vai continuar os procedimentos. Aguarde um momento, por favor.",
        "stale": "O conteúdo foi atualizado. Confira novamente, por favor.",
        "error": "Algo deu errado. Fale com um funcionário.",
    },
    "ne": {
        "title": "पुष्टि गर्ने ट्याब्लेट",
        "language": "भाषा",
        "welcome_heading": "स्वागत छ",
        "welcome_text": "कर्मचारीले तपाईंलाई सहयोग गर्नुहुनेछ। कृपया केही बेर पर्खनुहोस्।",
        "pin_heading": "माइ नम्बर कार्डको पिन",
        "pin_text": "४ अङ्कको पिन हालेर “ठीक छ” थिच्नुहोस्।",
        "pin_heading_licence": "ड्राइभिङ लाइसेन्सको पिन १",
        "pin_text_licence": "लाइसेन्स बनाउँदा राखेको ४ अङ्कको पिन १ हालेर “ठीक छ” थिच्नुहोस्।",
        "pin_clear": "सच्याउनुहोस्",
        "pin_submit": "ठीक छ",
        "pin_entered": "हालेका अङ्क",
        "pin_invalid": "पिन ४ अङ्कको हुन्छ।",
        "card_reading": "कार्ड पढ्दै छ। कृपया कार्ड नचलाउनुहोस्।",
        "card_wrong_pin": "पिन मिलेन।",
        "card_retries": "अझै {n} पटक प्रयास गर्न सकिन्छ।",
        "card_last_try": "अर्को पटक गलत भएमा कार्ड लक हुनेछ। निश्चित नभएमा कृपया कर्मचारीलाई भन्नुहोस्।",
        "card_place": "कृपया कार्ड रिडरमा कार्ड राख्नुहोस्।",
        "card_locked": "कार्ड लक भयो। कृपया कर्मचारीलाई भन्नुहोस्।",
        "card_failed": "कार्ड पढ्न सकिएन। कृपया कर्मचारीलाई भन्नुहोस्।",
        "card_read": "कार्ड पढियो।",
        "review_heading": "विवरण जाँच गर्नुहोस्",
        "review_text": "प्रत्येक फारममा लेखिने विवरण जाँच गर्नुहोस्।",
        "form": "फारम",
        "next": "अर्को",
        "back": "पछाडि",
        "blank": "(खाली)",
        "yes": "हो",
        "no": "होइन",
        "paper_note": "यो फारम छापिएपछि कागजमा हस्ताक्षर गर्नुपर्नेछ।",
        "sign_heading": "हस्ताक्षर",
        "sign_text": "कृपया बाकसभित्र औँलाले आफ्नो नाम लेख्नुहोस्।",
        "sign_clear": "फेरि लेख्नुहोस्",
        "sign_canvas": "हस्ताक्षर गर्ने ठाउँ",
        "sign_needed": "कृपया पहिले हस्ताक्षर गर्नुहोस्।",
        "confirm": "मैले जाँच गरें",
        "confirm_text": "सबै ठीक भए “मैले जाँच गरें” थिच्नुहोस्।",
        "thanks_heading": "धन्यवाद",
        "thanks_text": "कर्मचारीले प्रक्रिया अगाडि बढाउनुहुनेछ। कृपया केही बेर पर्खनुहोस्।",
        "stale": "विवरण परिवर्तन भयो। कृपया फेरि जाँच गर्नुहोस्।",
        "error": "केही समस्या भयो। कृपया कर्मचारीलाई भन्नुहोस्।",
    },
}
# Shown to whoever pairs the tablet (staff), in Japanese.
PAIRING_MESSAGES = {
    "revoked": "このタブレットのペアリングは解除されたか、無効です。もう一度ペアリングしてください。",
}


def chrome(language: str) -> dict[str, str]:
    """The tablet's words in ``language``; Japanese for a language it does not know."""
    return CHROME.get(language, CHROME["ja"])


def html_lang(language: str) -> str:
    return HTML_LANG.get(language, language if language in CHROME else "ja")


# --- what the screen shows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownValue:
    """A value as the resident sees it: ``text`` exactly as stored, or a yes/no for a tick box, or blank."""

    kind: Literal["text", "flag", "blank"]
    text: str = ""


@dataclass(frozen=True)
class ReviewRow:
    label: str
    value: ShownValue | None = None
    columns: tuple[str, ...] = ()
    table: tuple[tuple[ShownValue, ...], ...] = ()


@dataclass(frozen=True)
class ReviewForm:
    code: str
    name: str
    signing: str
    rows: tuple[ReviewRow, ...] = field(default_factory=tuple)


def _shown(raw: Any, words: dict[str, str]) -> ShownValue:
    if raw is None or raw == "" or raw == []:
        return ShownValue("blank", words["blank"])
    if isinstance(raw, bool):
        return ShownValue("flag", words["yes"] if raw else words["no"])
    if isinstance(raw, str):
        return ShownValue("text", raw)
    if isinstance(raw, int | float):
        return ShownValue("text", str(raw))
    return ShownValue("text", json.dumps(raw, ensure_ascii=False))


def _review_row(spec: FieldSpec, raw: Any, language: str, words: dict[str, str]) -> ReviewRow:
    label = spec.label_in(language)
    if spec.type != "person_list":
        return ReviewRow(label=label, value=_shown(raw, words))
    items = [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    if not items:
        return ReviewRow(label=label, value=_shown(None, words))
    return ReviewRow(
        label=label,
        columns=tuple(column.label_in(language) for column in spec.columns),
        table=tuple(tuple(_shown(item.get(column.key), words) for column in spec.columns) for item in items),
    )


def review_forms(*, session: CounterSession) -> list[ReviewForm]:
    """Every form of the session in order: each field's label in the session's language (Japanese when there
    is no translation) with its value exactly as stored. Signature fields are the signature step, not rows."""
    language, words = session.language, chrome(session.language)
    forms = []
    session_forms = list(session.forms.all())
    sources = selectors.session_form_sources(session_forms)
    for form in session_forms:
        spec = sources[form.form_code].spec
        rows = tuple(
            _review_row(field_spec, form.data.get(field_spec.key), language, words)
            for field_spec in spec.fields
            if field_spec.type != "signature"
        )
        forms.append(ReviewForm(code=form.form_code, name=form.name, signing=form.signing, rows=rows))
    return forms


def _card_messages(card: dict[str, Any], words: dict[str, str]) -> list[str]:
    """What the card's last read says to the resident (a failure is kept while the PIN is asked again)."""
    status, reason = card.get("status", ""), card.get("reason", "")
    if status == "reading":
        return [words["card_reading"]]
    if status == "read":
        return [words["card_read"]]
    if reason == "locked" or status == "locked":
        return [words["card_locked"]]
    retries = card.get("retries_left")
    left = [words["card_retries"].format(n=retries)] if isinstance(retries, int) and retries > 0 else []
    if retries == 1:
        left.append(words["card_last_try"])
    if reason == "wrong_pin":
        return [words["card_wrong_pin"], *left]
    if status == "failed" or reason:
        return [words["card_failed"]]
    # Before the PIN: what the reader found on the card (the tries left, read without spending one).
    probe = card.get("probe")
    if probe == "locked":
        return [words["card_locked"]]
    if probe == "no_card":
        return [words["card_place"]]
    return left


def screen_context(*, pairing: TabletPairing) -> dict[str, Any]:
    """The context of the screen fragment: the welcome screen, or the session ``tablet_session`` returns."""
    session = selectors.tablet_session(pairing=pairing)
    if session is None:
        return {"screen": "welcome", "counter": pairing.counter, "greetings": _greetings()}
    return _session_screen(session)


def _session_screen(session: CounterSession, *, reading: bool = False) -> dict[str, Any]:
    """The PIN pad, the review, or the card's status (``reading``: the PIN was just sent) of ``session``."""
    language = session.language if session.language in CHROME else "ja"
    words = chrome(language)
    context: dict[str, Any] = {
        "counter": session.counter,
        "session": session,
        "language": language,
        "html_lang": html_lang(language),
        "words": words,
        "languages": [(code, name, html_lang(code)) for code, name in LANGUAGE_NAMES.items()],
    }
    card = {**session.card, "status": "reading"} if reading else session.card
    if card.get("kind") == "licence":
        words = {**words, "pin_heading": words["pin_heading_licence"], "pin_text": words["pin_text_licence"]}
        context["words"] = words
    if card.get("pin_requested") and not reading and card.get("probe") != "locked":
        return {**context, "screen": "pin", "card_messages": _card_messages(card, words)}
    if session.state == SessionState.CONFIRMING and not reading:
        forms = review_forms(session=session)
        return {
            **context,
            "screen": "review",
            "forms": forms,
            "steps": len(forms),
            "needs_signature": any(form.signing == "tablet" for form in forms),
        }
    return {
        **context,
        "screen": "card",
        "card_messages": _card_messages(card, words) or [words["welcome_text"]],
    }


def _greetings() -> list[tuple[str, str, str]]:
    return [
        (html_lang(code), words["welcome_heading"], words["welcome_text"]) for code, words in CHROME.items()
    ]


# --- pairing -----------------------------------------------------------------------------------------------------


def _pairing(request: HttpRequest) -> TabletPairing | None:
    return services.tablet_for_token(request.COOKIES.get(COOKIE, ""))


def _pairing_page(
    request: HttpRequest, *, counter: str = "", label: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    response = render(
        request,
        "counters/tablet/pair.html",
        {"counter_code": counter, "label": label, "error": error},
        status=status,
    )
    if COOKIE in request.COOKIES:
        response.delete_cookie(COOKIE, samesite="Strict")
    return response


@require_GET
@ensure_csrf_cookie
@never_cache
def index(request: HttpRequest) -> HttpResponse:
    """The tablet's one page: the pairing form when it is not paired, else the counter's screen."""
    pairing = _pairing(request)
    if pairing is None:
        error = PAIRING_MESSAGES["revoked"] if request.COOKIES.get(COOKIE) else ""
        return _pairing_page(request, error=error)
    context = screen_context(pairing=pairing)
    return render(
        request,
        "counters/tablet/index.html",
        {
            **context,
            "page_lang": context.get("html_lang", "ja"),
            "idle_seconds": int(getattr(settings, "MADOGUCHI_TABLET_IDLE_SECONDS", IDLE_SECONDS_DEFAULT)),
            "thanks_seconds": THANKS_SECONDS,
            "welcome": {"counter": pairing.counter, "greetings": _greetings()},
        },
    )


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie
@never_cache
def pair(request: HttpRequest) -> HttpResponse:
    """Pair this tablet with a counter by the code on the clerk screen (``?counter=`` comes from its QR code)."""
    if request.method == "GET":
        return _pairing_page(request, counter=request.GET.get("counter", "")[:32])
    counter = request.POST.get("counter", "").strip()[:32]
    label = request.POST.get("label", "").strip()[:100]
    if over_limit("pair", counter):
        error = gettext(
            "この窓口へのペアリングの試行が多すぎます。しばらく待ってからもう一度お試しください。"
        )
        return _pairing_page(request, counter=counter, label=label, error=error, status=429)
    try:
        _, token = services.tablet_pair(counter_code=counter, code=request.POST.get("code", ""), label=label)
    except services.TabletRefused as refused:
        return _pairing_page(request, counter=counter, label=label, error=str(refused), status=400)
    response = redirect("tablet:index")
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure(),
    )
    return response


# --- the screen and the resident's actions -----------------------------------------------------------------------


@require_GET
@never_cache
def screen(request: HttpRequest) -> HttpResponse:
    """The screen as an HTML fragment, fetched again whenever the session changes."""
    pairing = _pairing(request)
    if pairing is None:
        return JsonResponse({"error": PAIRING_MESSAGES["revoked"]}, status=403)
    return render(request, "counters/tablet/_screen.html", screen_context(pairing=pairing))


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@sensitive_variables("body")
def _posted(request: HttpRequest) -> tuple[TabletPairing, CounterSession, dict[str, Any], int]:
    """The pairing, the session and the version a resident's POST is about — only the session this tablet
    shows now. Another counter's session (or one that does not exist) is refused; one of this counter that is
    no longer on the tablet, or an older version, is stale."""
    pairing = _pairing(request)
    if pairing is None:
        raise _Refused(403, PAIRING_MESSAGES["revoked"])
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise _Refused(400, CHROME["ja"]["error"]) from None
    if not isinstance(body, dict):
        raise _Refused(400, CHROME["ja"]["error"])
    version = body.get("version")
    if isinstance(version, str) and version.isascii() and version.isdigit():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _Refused(400, CHROME["ja"]["error"])
    session = (
        CounterSession.objects.select_related("counter")
        .filter(reception_no=str(body.get("reception_no", "")))
        .first()
    )
    if session is None or session.counter_id != pairing.counter_id:
        raise _Refused(403, CHROME["ja"]["error"])
    shown = selectors.tablet_session(pairing=pairing)
    if shown is None or shown.pk != session.pk or shown.version != version:
        raise _Refused(409, chrome(session.language)["stale"])
    return pairing, session, body, version


def _refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _service_error(error: services.SessionError, language: str) -> JsonResponse:
    if isinstance(error, services.TabletRefused):
        return _refusal(403, chrome(language)["error"])
    if isinstance(error, services.SessionStale):
        return _refusal(409, chrome(language)["stale"])
    return JsonResponse({"error": chrome(language)["error"], "detail": str(error)}, status=400)


@require_POST
def language(request: HttpRequest) -> JsonResponse:
    """``{"reception_no", "version", "language"}`` → ``{"ok": true, "version"}``: the resident's language."""
    try:
        pairing, session, body, version = _posted(request)
    except _Refused as refused:
        return _refusal(refused.status, str(refused))
    chosen = str(body.get("language", ""))
    if chosen not in LANGUAGE_NAMES:
        return _refusal(400, chrome(session.language)["error"])
    try:
        changed = services.tablet_language(session=session, pairing=pairing, language=chosen, version=version)
    except services.SessionError as error:
        return _service_error(error, session.language)
    return JsonResponse({"ok": True, "version": changed.version})


@sensitive_post_parameters()
@sensitive_variables()
@require_POST
def card_pin(request: HttpRequest) -> JsonResponse:
    """``{"reception_no", "version", "pin"}`` → ``{"ok": true, "version", "html"}``: the card's PIN goes straight
    into the agent's read command; it is not stored, logged, or echoed. ``html`` is the "reading" screen."""
    try:
        pairing, session, body, version = _posted(request)
    except _Refused as refused:
        return _refusal(refused.status, str(refused))
    pin = body.get("pin", "")
    words = chrome(session.language)
    if not (isinstance(pin, str) and len(pin) == 4 and pin.isascii() and pin.isdigit()):
        return _refusal(400, words["pin_invalid"])
    try:
        services.tablet_card_pin(session=session, pairing=pairing, pin=pin, version=version)
    except services.SessionError as error:
        return _service_error(error, session.language)
    session.refresh_from_db()
    html = render_to_string(
        "counters/tablet/_screen.html", _session_screen(session, reading=True), request=request
    )
    return JsonResponse({"ok": True, "version": session.version, "html": html})


@require_POST
def confirm(request: HttpRequest) -> JsonResponse:
    """``{"reception_no", "version", "signature"}`` → ``{"ok": true, "version", "html"}``: the resident confirmed
    every form and signed (a ``data:image/png;base64,…`` URL when a form is signed on the tablet). ``html`` is
    the thank-you screen. Sending it again is refused as stale: the version moved on."""
    try:
        pairing, session, body, version = _posted(request)
    except _Refused as refused:
        return _refusal(refused.status, str(refused))
    words = chrome(session.language)
    signature = body.get("signature", "")
    if not isinstance(signature, str):
        return _refusal(400, words["sign_needed"])
    if not signature and session.forms.filter(signing="tablet").exists():
        return _refusal(400, words["sign_needed"])
    try:
        confirmed = services.tablet_confirm(
            session=session, pairing=pairing, signature=signature, version=version
        )
    except services.SessionError as error:
        return _service_error(error, session.language)
    language_code = confirmed.language if confirmed.language in CHROME else "ja"
    html = render_to_string(
        "counters/tablet/_thanks.html",
        {
            "words": chrome(language_code),
            "html_lang": html_lang(language_code),
            "language": language_code,
            "session": confirmed,
        },
        request=request,
    )
    return JsonResponse({"ok": True, "version": confirmed.version, "html": html})


# --- live updates ------------------------------------------------------------------------------------------------


def snapshot_of(pairing: TabletPairing) -> dict[str, Any]:
    """What the tablet shows now, as the push channel's first message: the session's number, version and state,
    or nothing (the welcome screen)."""
    session = selectors.tablet_session(pairing=pairing)
    if session is None:
        return {}
    card = session.card or {}
    return {
        "reception_no": session.reception_no,
        "version": session.version,
        "state": session.state,
        # What the reader found before the PIN changes the pad without a new version (card_probe_event).
        "card_probe": [card.get("probe"), card.get("retries_left")],
    }


@require_GET
async def events(request: HttpRequest) -> HttpResponseBase:
    """Server-sent events of the tablet's counter; the client fetches the screen again when they differ from
    what it shows."""
    pairing = await sync_to_async(services.tablet_for_token)(request.COOKIES.get(COOKIE, ""))
    if pairing is None:
        return JsonResponse({"error": PAIRING_MESSAGES["revoked"]}, status=403)

    async def snapshot() -> dict[str, Any]:
        return await sync_to_async(snapshot_of)(pairing)

    return push.sse_response(request, topics=[f"counter:{pairing.counter.code}"], snapshot=snapshot)
