"""A deterministic synthetic city, 窓口市, as a 住民記録 v1 full snapshot (domain.md §1, §3, §5).

``demo_city_csv()`` returns the file (UTF-8 without BOM, RFC 4180, CRLF, header ``JUKI_V1_COLUMNS``);
``demo_city_rows()`` yields the same rows as dicts keyed by column name. Only the standard library is
used, plus the project's check digit and CSV writer, so this runs without Django settings.

What the default city (4,200 households, seed 20261121) holds:

* 10,636 people in households of 1–6: singles, couples, parents with children,
  three-generation households (父/母/妻の母 of the head, or 子 + 子の妻 + 孫) and share houses
  with 同居人. Ages are coherent: a child is born when its mother is 21–43, spouses are of
  similar age. 世帯主氏名 is the head's 氏 + full-width space + 名, or the 英字氏名 of a foreign
  head without a 漢字 name.
* about 4 % foreign residents (住民種別 2) with 英字氏名 (``"NGUYEN VAN AN"``), 氏/名 only for
  Chinese and Korean names, 国籍地域, 在留資格, 在留期間, 在留期間満了日 and 在留カード等番号,
  and no 本籍/筆頭者. Some 特別永住者 and foreign wives have a 通称. Foreign residents who lived
  here before 2012-07-09 were recorded on that day by 職権記載.
* MJ variants in about 3 % of the residents, stored exactly as written here, never normalised:
  葛+U+E0102 (a Moji_Joho IVS) in 葛󠄂西 and 葛󠄂城, 辻+U+E0102, 𠮷 (U+20BB7), 山﨑/宮﨑/岩﨑
  (U+FA11), 髙, 邊/邉, 齋/齊, 濱, and the given name 隆之 with 隆 = U+F9DC (a CJK compatibility
  ideograph that NFC would change).
* 住民状態 mostly 1, about 1 % 2 (転出) or 3 (死亡). 国保, 後期高齢 (age ≥ 75), 介護保険
  (age ≥ 65) and 国民年金種別 agree with age and work; 児童手当 is ``1`` on every resident child
  under 15 (the 対象児童 themselves).

The first household never depends on the seed: 窓口市本町二丁目5番8号, 世帯主 葛󠄂西 隆之
(葛+U+E0102, 隆 = U+F9DC), 妻 美智子 (旧氏 𠮷田), 子 陽菜 and 蓮, and 妻の母 𠮷田 和子. The head
is the first row of the file, 宛名番号 ``DEMO_IVS_ATENA_NO`` = ``"0100000016"``; 𠮷田 和子 is the
fifth row, ``DEMO_KICHI_ATENA_NO`` = ``"0100000059"``.

Determinism: who lives here, their numbers and names depend only on ``seed`` and ``households``.
Dates are drawn as "days before today" and rendered against ``today`` (default: the real date),
so everyone keeps the same age whatever day the file is made. The same seed and ``today`` give
identical bytes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

from madoguchi.moji.checkdigit import with_check_digit
from madoguchi.moji.csvsafe import write_csv

from .layouts import JUKI_V1_COLUMNS

__all__ = ["CITY", "DEMO_IVS_ATENA_NO", "DEMO_KICHI_ATENA_NO", "demo_city_csv", "demo_city_rows"]

CITY: Final = "窓口市"
_JST: Final = dt.timezone(dt.timedelta(hours=9))
_YEAR_DAYS: Final = 365.2425
_FOREIGN_REGISTER_START: Final = dt.date(2012, 7, 9)  # foreign residents entered the 住民基本台帳
_ATENA_FIRST: Final = 10_000_001  # 9 data digits; the check digit makes 10
_SETAI_FIRST: Final = 50_000_001
_MJ_EVERY: Final = 30  # every 30th household (from the 8th on) has an MJ-variant surname


def _atena_no(seq: int, ten: str = "0") -> str:
    """宛名番号 for sequence number ``seq``: 9 data digits + M11W2-7 check digit (a result of 10 → ``ten``)."""
    return with_check_digit(f"{seq:09d}", ten=ten)


def _setai_no(seq: int, ten: str = "0") -> str:
    """世帯番号 for sequence number ``seq``, built like a 宛名番号."""
    return with_check_digit(f"{seq:09d}", ten=ten)


DEMO_IVS_ATENA_NO: Final[str] = _atena_no(_ATENA_FIRST)
"""宛名番号 of 葛󠄂西 隆之 (葛+U+E0102), head of the first household, first row of the file."""
DEMO_KICHI_ATENA_NO: Final[str] = _atena_no(_ATENA_FIRST + 4)
"""宛名番号 of 𠮷田 和子 (U+20BB7), 妻の母 in the first household, fifth row of the file."""


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """``"佐藤:サトウ 鈴木:スズキ"`` → ``(("佐藤", "サトウ"), ("鈴木", "スズキ"))``."""
    return tuple((k, v) for k, _, v in (item.partition(":") for item in text.split()))


# Common surnames, most frequent first; drawn with weights falling off with rank.
_SURNAMES: Final = _pairs(
    "佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 伊藤:イトウ 渡辺:ワタナベ 山本:ヤマモト "
    "中村:ナカムラ 小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ 佐々木:ササキ 山口:ヤマグチ "
    "松本:マツモト 井上:イノウエ 木村:キムラ 林:ハヤシ 斎藤:サイトウ 清水:シミズ 山崎:ヤマザキ "
    "森:モリ 池田:イケダ 橋本:ハシモト 阿部:アベ 石川:イシカワ 山下:ヤマシタ 中島:ナカジマ "
    "石井:イシイ 小川:オガワ 前田:マエダ 岡田:オカダ 長谷川:ハセガワ 藤田:フジタ 後藤:ゴトウ "
    "近藤:コンドウ 村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト 斉藤:サイトウ 福田:フクダ "
    "太田:オオタ 西村:ニシムラ 藤井:フジイ 金子:カネコ 岡本:オカモト 藤原:フジワラ 中野:ナカノ "
    "三浦:ミウラ 原田:ハラダ 中川:ナカガワ 松田:マツダ 竹内:タケウチ 小野:オノ 田村:タムラ "
    "中山:ナカヤマ 和田:ワダ 石田:イシダ 森田:モリタ 上田:ウエダ 原:ハラ 内田:ウチダ 柴田:シバタ "
    "酒井:サカイ 宮崎:ミヤザキ 横山:ヨコヤマ 高木:タカギ 安藤:アンドウ 宮本:ミヤモト 大野:オオノ "
    "小島:コジマ 谷口:タニグチ 今井:イマイ 工藤:クドウ 高田:タカダ 増田:マスダ 丸山:マルヤマ "
    "杉山:スギヤマ 村田:ムラタ 大塚:オオツカ 新井:アライ 小山:コヤマ 平野:ヒラノ 藤本:フジモト "
    "河野:コウノ 上野:ウエノ 野口:ノグチ 武田:タケダ 松井:マツイ 千葉:チバ 岩崎:イワサキ "
    "菅原:スガワラ 木下:キノシタ 久保:クボ 佐野:サノ 野村:ノムラ 松尾:マツオ 菊地:キクチ "
    "杉本:スギモト 市川:イチカワ 古川:フルカワ 大西:オオニシ 島田:シマダ 水野:ミズノ 桜井:サクライ "
    "高野:タカノ 渡部:ワタナベ 吉川:ヨシカワ 山内:ヤマウチ 西田:ニシダ 飯田:イイダ 菊池:キクチ "
    "西川:ニシカワ 小松:コマツ 北村:キタムラ 安田:ヤスダ 五十嵐:イガラシ 川口:カワグチ 平田:ヒラタ "
    "関:セキ 中田:ナカタ 久保田:クボタ 服部:ハットリ 東:ヒガシ 岩田:イワタ 土屋:ツチヤ "
    "川崎:カワサキ 福島:フクシマ 本田:ホンダ 辻:ツジ 樋口:ヒグチ 秋山:アキヤマ 田口:タグチ "
    "永井:ナガイ 山中:ヤマナカ 中西:ナカニシ 吉村:ヨシムラ 川上:カワカミ 石原:イシハラ 大橋:オオハシ "
    "松岡:マツオカ 馬場:ババ 浅野:アサノ 荒木:アラキ 大久保:オオクボ 野田:ノダ 小池:コイケ "
    "田辺:タナベ 松下:マツシタ 菅野:カンノ 荒井:アライ 熊谷:クマガイ 大谷:オオタニ 内藤:ナイトウ "
    "桑原:クワハラ 松浦:マツウラ 星野:ホシノ 黒田:クロダ 堀:ホリ 尾崎:オザキ 望月:モチヅキ "
    "永田:ナガタ 森本:モリモト 浜田:ハマダ 葛西:カサイ 澤田:サワダ 吉岡:ヨシオカ"
)
_SURNAME_CUM_WEIGHTS: Final = tuple(accumulate(1.0 / (rank + 8) for rank in range(len(_SURNAMES))))

# Surnames written with MJ variants, stored exactly as written here. Used round robin.
_MJ_SURNAMES: Final = (
    ("葛\U000e0102西", "カサイ"),
    ("𠮷田", "ヨシダ"),
    ("山\ufa11", "ヤマザキ"),
    ("髙橋", "タカハシ"),
    ("渡邊", "ワタナベ"),
    ("齋藤", "サイトウ"),
    ("濱田", "ハマダ"),
    ("辻\U000e0102", "ツジ"),
    ("葛\U000e0102城", "カツラギ"),
    ("宮\ufa11", "ミヤザキ"),
    ("髙木", "タカギ"),
    ("渡邉", "ワタナベ"),
    ("𠮷川", "ヨシカワ"),
    ("岩\ufa11", "イワサキ"),
    ("髙田", "タカダ"),
    ("辻\U000e0102本", "ツジモト"),
    ("齊藤", "サイトウ"),
    ("濱口", "ハマグチ"),
    ("𠮷村", "ヨシムラ"),
)
# Given names with 隆 written as the compatibility ideograph U+F9DC.
_MJ_MALE_NAMES: Final = (
    ("\uf9dc之", "タカユキ"),
    ("\uf9dc", "タカシ"),
    ("\uf9dc志", "タカシ"),
    ("\uf9dc浩", "タカヒロ"),
)

# Given names by generation (born 60+ years ago, 30–59, under 30) and sex.
_GIVEN: Final = {
    ("old", "1"): _pairs(
        "清:キヨシ 茂:シゲル 勇:イサム 博:ヒロシ 実:ミノル 進:ススム 正:タダシ 昭:アキラ 武:タケシ "
        "稔:ミノル 三郎:サブロウ 正男:マサオ 和夫:カズオ 弘:ヒロシ 勝:マサル 修:オサム 豊:ユタカ "
        "隆:タカシ 健一:ケンイチ 幸雄:ユキオ 義雄:ヨシオ 秀夫:ヒデオ 俊夫:トシオ 一男:カズオ"
    ),
    ("old", "2"): _pairs(
        "和子:カズコ 幸子:サチコ 節子:セツコ 洋子:ヨウコ 京子:キョウコ 恵子:ケイコ 美智子:ミチコ "
        "弘子:ヒロコ 久子:ヒサコ 文子:フミコ 静子:シズコ 千代子:チヨコ 信子:ノブコ 悦子:エツコ "
        "道子:ミチコ 正子:マサコ 孝子:タカコ 敏子:トシコ 春子:ハルコ 清子:キヨコ 百合子:ユリコ 照子:テルコ"
    ),
    ("mid", "1"): _pairs(
        "誠:マコト 大輔:ダイスケ 直樹:ナオキ 哲也:テツヤ 剛:ツヨシ 浩二:コウジ 達也:タツヤ 和也:カズヤ "
        "秀樹:ヒデキ 健:ケン 拓也:タクヤ 学:マナブ 聡:サトシ 隆之:タカユキ 雅人:マサト 亮:リョウ "
        "智也:トモヤ 一郎:イチロウ 洋平:ヨウヘイ 淳:ジュン 健太郎:ケンタロウ 慎也:シンヤ 浩之:ヒロユキ "
        "裕介:ユウスケ"
    ),
    ("mid", "2"): _pairs(
        "久美子:クミコ 裕子:ユウコ 真由美:マユミ 智子:トモコ 陽子:ヨウコ 明美:アケミ 由美子:ユミコ "
        "恵:メグミ 香織:カオリ 愛:アイ 麻衣:マイ 美穂:ミホ 直美:ナオミ 純子:ジュンコ 千尋:チヒロ "
        "彩:アヤ 舞:マイ 奈緒:ナオ 理恵:リエ 亜希子:アキコ 美紀:ミキ 由紀:ユキ さやか:サヤカ 沙織:サオリ"
    ),
    ("young", "1"): _pairs(
        "翔太:ショウタ 蓮:レン 陽翔:ハルト 大翔:ヒロト 湊:ミナト 悠真:ユウマ 颯太:ソウタ 樹:イツキ "
        "陽太:ヨウタ 悠斗:ユウト 蒼:アオイ 朝陽:アサヒ 健太:ケンタ 拓海:タクミ 大和:ヤマト 海斗:カイト "
        "結翔:ユイト 律:リツ 颯:ハヤテ 翼:ツバサ 悠人:ユウト 大輝:ダイキ 優斗:ユウト 陸:リク"
    ),
    ("young", "2"): _pairs(
        "陽菜:ヒナ 結衣:ユイ 葵:アオイ 凛:リン 紬:ツムギ さくら:サクラ 結菜:ユイナ 美咲:ミサキ "
        "芽依:メイ 杏:アン 莉子:リコ 花:ハナ 心春:コハル 美桜:ミオ 楓:カエデ 澪:ミオ 陽葵:ヒマリ "
        "優奈:ユウナ 七海:ナナミ 彩花:アヤカ 愛菜:マナ 琴音:コトネ 遥:ハルカ 真央:マオ"
    ),
}

# Towns of 窓口市 and how many 丁目 each has.
_TOWNS: Final = (
    ("本町", 4), ("栄町", 3), ("駅前", 3), ("緑町", 2), ("旭町", 3), ("東町", 4),
    ("西町", 3), ("南町", 2), ("北町", 2), ("中央", 5), ("若葉台", 3), ("桜ケ丘", 4),
    ("松原", 2), ("川端町", 2), ("新町", 3), ("宮前", 2), ("大手町", 2), ("港町", 3),
    ("青葉", 4), ("日の出町", 2), ("富士見", 3), ("朝日が丘", 3), ("柳町", 2), ("元町", 2),
)  # fmt: skip
_KANSUJI: Final = "一二三四五六七八九十"
_BUILDING_PREFIXES: Final = (
    "メゾン", "コーポ", "ハイツ", "パークハイツ", "グランレジデンス", "サンハイム",
    "ライオンズマンション", "シティハウス", "ヴィラ", "アーバンコート", "ロイヤルハイツ", "フォレスト",
)  # fmt: skip
# Places outside the city with numbered 丁目, for 転入前住所 and 本籍: (place, highest 丁目).
_ELSEWHERE: Final = (
    ("東京都世田谷区太子堂", 5), ("東京都練馬区豊玉北", 6), ("東京都江東区大島", 9),
    ("神奈川県横浜市港北区日吉本町", 6), ("神奈川県川崎市中原区小杉町", 3),
    ("埼玉県さいたま市浦和区高砂", 5), ("千葉県千葉市中央区富士見", 2),
    ("大阪府大阪市北区天神橋", 8), ("愛知県名古屋市中区栄", 5), ("福岡県福岡市中央区大名", 2),
    ("宮城県仙台市青葉区一番町", 4), ("静岡県静岡市葵区呉服町", 2), ("広島県広島市中区紙屋町", 2),
    ("兵庫県神戸市中央区元町通", 7), ("新潟県新潟市中央区東大通", 2), ("岡山県岡山市北区表町", 3),
)  # fmt: skip

_Name = tuple[str, str, str]  # (alphabet, katakana, kanji or "")


def _names(text: str) -> tuple[_Name, ...]:
    """``"CHEN:チェン:陳 VAN_AN:ヴァン"`` → ``(("CHEN", "チェン", "陳"), ("VAN AN", "ヴァン", ""))``.

    An underscore in the alphabet part stands for a space; the 漢字 part is optional.
    """
    out = []
    for item in text.split():
        alpha, kana, *kanji = item.split(":")
        out.append((alpha.replace("_", " "), kana, kanji[0] if kanji else ""))
    return tuple(out)


@dataclass(frozen=True)
class _Nation:
    """A nationality of foreign residents: its weight among them and its names."""

    name: str
    weight: float
    surnames: tuple[_Name, ...]
    male: tuple[_Name, ...]
    female: tuple[_Name, ...]
    wife_keeps_surname: bool


_NATIONS: Final = (
    _Nation(
        "ベトナム", 25,
        _names("NGUYEN:グエン TRAN:チャン LE:レ PHAM:ファム HOANG:ホアン VU:ヴー DANG:ダン BUI:ブイ"),
        _names("VAN_AN:ヴァンアン VAN_MINH:ヴァンミン VAN_HUNG:ヴァンフン DUC_TUAN:ドゥックトゥアン "
               "VAN_NAM:ヴァンナム MINH_DUC:ミンドゥック VAN_LONG:ヴァンロン"),
        _names("THI_LAN:ティラン THI_HOA:ティホア THI_LINH:ティリン THI_THU:ティトゥー "
               "THI_MAI:ティマイ THI_HUONG:ティフオン THI_TRANG:ティチャン"),
        True,
    ),
    _Nation(
        "中国", 22,
        _names("CHEN:チェン:陳 WANG:ワン:王 LI:リー:李 ZHANG:チャン:張 LIU:リウ:劉 YANG:ヤン:楊 "
               "ZHAO:チャオ:趙 HUANG:ホアン:黄 ZHOU:チョウ:周 WU:ウー:呉"),
        _names("XIAOMING:シャオミン:暁明 WEI:ウェイ:偉 QIANG:チアン:強 LEI:レイ:磊 JUN:ジュン:軍 "
               "HAO:ハオ:浩 YONG:ヨン:勇 JIE:ジエ:傑"),
        _names("FANG:ファン:芳 XIUYING:シウイン:秀英 MIN:ミン:敏 JING:ジン:静 LI:リー:麗 "
               "YAN:イエン:艶 NA:ナー:娜 LING:リン:玲"),
        True,
    ),
    _Nation(
        "韓国", 12,
        _names("KIM:キム:金 LEE:イ:李 PARK:パク:朴 CHOI:チェ:崔 JUNG:チョン:鄭 KANG:カン:姜 "
               "CHO:チョ:趙 YOON:ユン:尹"),
        _names("YOUNGHO:ヨンホ:英浩 MINJUN:ミンジュン:民俊 SUNGHO:ソンホ:成浩 JIHOON:ジフン:志勲 "
               "DONGHYUN:ドンヒョン:東賢"),
        _names("MISOOK:ミスク:美淑 SOOJIN:スジン:秀珍 YOUNGHEE:ヨンヒ:英姫 EUNJI:ウンジ:恩智 "
               "JIYOUNG:ジヨン:智英"),
        True,
    ),
    _Nation(
        "フィリピン", 11,
        _names("SANTOS:サントス REYES:レイエス CRUZ:クルス BAUTISTA:バウティスタ GARCIA:ガルシア "
               "MENDOZA:メンドーサ"),
        _names("JOSE:ホセ MARK:マーク JOHN:ジョン RYAN:ライアン"),
        _names("MARIA:マリア ANNA:アンナ JOY:ジョイ MARICEL:マリセル GRACE:グレース"),
        False,
    ),
    _Nation(
        "ブラジル", 9,
        _names("SILVA:シルバ SANTOS:サントス OLIVEIRA:オリベイラ SOUZA:ソウザ PEREIRA:ペレイラ "
               "FERREIRA:フェレイラ COSTA:コスタ"),
        _names("LUCAS:ルーカス GABRIEL:ガブリエル RAFAEL:ラファエル PEDRO:ペドロ JOAO:ジョアン"),
        _names("MARIA:マリア ANA:アナ JULIA:ジュリア BEATRIZ:ベアトリス CAMILA:カミラ"),
        False,
    ),
    _Nation(
        "ネパール", 9,
        _names("GURUNG:グルン SHRESTHA:シュレスタ TAMANG:タマン RAI:ライ THAPA:タパ MAGAR:マガル"),
        _names("RAM:ラム BIKASH:ビカス SURESH:スレス PRAKASH:プラカス"),
        _names("SITA:シタ ANITA:アニタ SARITA:サリタ GITA:ギタ"),
        False,
    ),
    _Nation(
        "インドネシア", 6,
        _names("SAPUTRA:サプトラ WIJAYA:ウィジャヤ SANTOSO:サントソ HIDAYAT:ヒダヤット"),
        _names("BUDI:ブディ AGUS:アグス RIZKI:リズキ DIMAS:ディマス"),
        _names("AYU:アユ SITI:シティ DEWI:デウィ RINA:リナ"),
        False,
    ),
    _Nation(
        "米国", 6,
        _names("SMITH:スミス JOHNSON:ジョンソン BROWN:ブラウン MILLER:ミラー DAVIS:デイビス "
               "WILSON:ウィルソン"),
        _names("JOHN:ジョン MICHAEL:マイケル DAVID:デイビッド JAMES:ジェームズ DANIEL:ダニエル"),
        _names("EMILY:エミリー SARAH:サラ JESSICA:ジェシカ EMMA:エマ OLIVIA:オリビア"),
        False,
    ),
)  # fmt: skip
_NATION_WEIGHTS: Final = tuple(n.weight for n in _NATIONS)
_NO_EXPIRY: Final = frozenset({"永住者", "特別永住者"})
_PERIODS: Final = {
    "留学": ("1年", "1年3月", "2年", "2年3月", "4年3月"),
    "技能実習2号ロ": ("1年",),
    "特定技能1号": ("6月", "1年"),
    "技術・人文知識・国際業務": ("1年", "3年", "5年"),
    "経営・管理": ("1年", "3年"),
    "技能": ("1年", "3年"),
    "家族滞在": ("1年", "3年"),
    "定住者": ("1年", "3年", "5年"),
    "日本人の配偶者等": ("1年", "3年"),
}
_SINGLE_STATUSES: Final = ("留学", "技能実習2号ロ", "特定技能1号", "技術・人文知識・国際業務", "永住者")
_SINGLE_WEIGHTS: Final = (30, 15, 20, 25, 10)
_SINGLE_AGES: Final = {
    "留学": (19, 30),
    "技能実習2号ロ": (20, 35),
    "特定技能1号": (20, 40),
    "永住者": (30, 75),
}
_FAMILY_STATUSES: Final = ("技術・人文知識・国際業務", "永住者", "定住者", "経営・管理", "技能")
_FAMILY_WEIGHTS: Final = (35, 30, 15, 10, 10)
_STATUS_WORK: Final = {
    "留学": "student",
    "技能実習2号ロ": "employee",
    "特定技能1号": "employee",
    "技術・人文知識・国際業務": "employee",
    "経営・管理": "self",
    "技能": "employee",
}
_CARD_LETTERS: Final = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _y(years: float) -> int:
    """``years`` as a whole number of days."""
    return round(years * _YEAR_DAYS)


def _period_days(period: str) -> int:
    """Length of a 在留期間 such as ``"2年3月"``, ``"1年"`` or ``"6月"``, in days."""
    years, _, rest = period.partition("年") if "年" in period else ("0", "", period)
    return _y(int(years) + int(rest.removesuffix("月") or 0) / 12)


@dataclass(frozen=True)
class _Residence:
    """A foreign resident's status; ``expires_in`` is days after today (0: no expiry)."""

    nationality: str
    status: str
    period: str
    expires_in: int
    card_no: str


@dataclass(eq=False)
class _Person:
    """One resident while the household is drawn. Dates are days before today."""

    sei: str
    mei: str
    sei_kana: str
    mei_kana: str
    sex: str
    birth: int
    relation: str
    eiji: str = ""
    kyu_uji: str = ""
    kyu_uji_kana: str = ""
    tsusho: str = ""
    tsusho_kana: str = ""
    honseki: str = ""
    hittosha: str = ""
    residence: _Residence | None = None
    work: str = "none"  # employee | self | student | none
    provider: _Person | None = None  # the insured person this one depends on
    joined: int = 0  # > 0: moved into the household on their own, this many days ago
    joined_from: str = ""
    # Filled in by _Builder.settle():
    resident_since: int = 0
    address_since: int = 0
    previous: str = ""
    state: str = "1"
    fixed_event: str = ""  # 転出 / 死亡 / 職権記載 override the event derived from the dates
    fixed_event_at: int = 0
    update_share: float = 0.0  # 更新日時 lies this share of the way from today back to the last event
    update_second: int = 36_000  # seconds after midnight

    @property
    def display_name(self) -> str:
        return f"{self.sei}　{self.mei}" if self.sei or self.mei else self.eiji

    @property
    def age_years(self) -> float:
        return self.birth / _YEAR_DAYS


@dataclass(eq=False)
class _Household:
    members: list[_Person]
    address: str
    katagaki: str
    postal: str
    address_code: str
    since: int  # 住所を定めた, days before today
    city_since: int  # 住民となった of those who came with the household (≥ since)
    previous: str  # 転入前住所 of those who came with the household


@dataclass(eq=False)
class _Building:
    name: str
    address: str
    town: int
    chome: int
    floors: int
    rooms: int
    used: set[int]


def _codes(town: int, chome: int) -> tuple[str, str]:
    """(郵便番号, 住所コード) of a 丁目."""
    return f"987{(town + 1) * 13:04d}", f"{town + 1:03d}{chome:03d}"


class _Builder:
    """Draws households from one random stream. No draw depends on ``today``."""

    def __init__(self, seed: int, households: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
        self.used_addresses: set[tuple[int, int, int, int]] = set()
        self.used_codes: set[str] = set()
        self.used_cards: set[str] = set()
        self.buildings = [self._building(i) for i in range(max(4, households // 32))]
        self.mj_turn = 0

    # Small draws.

    def age(self, lo: float, hi: float) -> int:
        """A birth (days before today) of someone aged ``lo`` to ``hi`` years."""
        return self.rng.randint(_y(lo), _y(hi + 1) - 1)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def surname(self) -> tuple[str, str]:
        return self.rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]

    def mj_surname(self) -> tuple[str, str]:
        name = _MJ_SURNAMES[self.mj_turn % len(_MJ_SURNAMES)]
        self.mj_turn += 1
        return name

    def given(self, sex: str, birth: int) -> tuple[str, str]:
        years = birth / _YEAR_DAYS
        era = "old" if years >= 60 else "mid" if years >= 30 else "young"
        if sex == "1" and era != "young" and self.chance(0.01):
            return self.rng.choice(_MJ_MALE_NAMES)
        return self.rng.choice(_GIVEN[(era, sex)])

    def juminhyo_code(self) -> str:
        while True:
            code = with_check_digit(str(self.rng.randint(10**9, 10**10 - 1)), ten="0")
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def card_no(self) -> str:
        """在留カード等番号: 2 letters, 8 digits, 2 letters."""
        while True:
            letters = "".join(self.rng.choice(_CARD_LETTERS) for _ in range(4))
            card = f"{letters[:2]}{self.rng.randint(0, 99_999_999):08d}{letters[2:]}"
            if card not in self.used_cards:
                self.used_cards.add(card)
                return card

    def elsewhere(self, *, honseki: bool = False) -> str:
        """An address (or a 本籍) outside the city."""
        place, top = self.rng.choice(_ELSEWHERE)
        chome = _KANSUJI[self.rng.randint(1, top) - 1]
        if honseki:
            return f"{place}{chome}丁目{self.rng.randint(1, 40)}番地"
        return f"{place}{chome}丁目{self.rng.randint(1, 30)}番{self.rng.randint(1, 25)}号"

    def local_honseki(self) -> str:
        name, chomes = self.rng.choice(_TOWNS)
        return f"{CITY}{name}{_KANSUJI[self.rng.randint(1, chomes) - 1]}丁目{self.rng.randint(1, 30)}番地"

    def work_for(self, birth: int, *, spouse: bool = False) -> str:
        years = birth / _YEAR_DAYS
        r = self.rng.random()
        if years < 18:
            return "student" if years >= 6 else "none"
        if years < 23:
            return "student" if r < 0.6 else "employee" if r < 0.95 else "none"
        if years < 60:
            if spouse:
                return "employee" if r < 0.45 else "self" if r < 0.5 else "none"
            return "employee" if r < 0.74 else "self" if r < 0.86 else "none"
        if years < 65:
            return "employee" if r < 0.55 else "self" if r < 0.7 else "none"
        if years < 70:
            return "employee" if r < 0.3 else "self" if r < 0.45 else "none"
        return "self" if r < 0.08 else "none"

    # Addresses.

    def _building(self, index: int) -> _Building:
        rng = self.rng
        town = rng.randrange(len(_TOWNS))
        town_name, chomes = _TOWNS[town]
        chome = rng.randint(1, chomes)
        ban, go = rng.randint(1, 30), rng.randint(1, 25)
        self.used_addresses.add((town, chome, ban, go))
        if index % 9 == 8:
            name = f"{CITY[:2]}団地 {index // 9 + 1}号棟"
            floors, rooms = 5, 8
        else:
            prefix = _BUILDING_PREFIXES[index % len(_BUILDING_PREFIXES)]
            word = CITY[:2] if index % 5 == 0 else town_name
            suffix = "" if index < 60 else f"{_KANSUJI[index // 60 % 10]}番館"
            name = f"{prefix}{word}{suffix}"
            floors, rooms = rng.randint(2, 9), rng.randint(3, 8)
        address = f"{CITY}{town_name}{_KANSUJI[chome - 1]}丁目{ban}番{go}号"
        return _Building(name, address, town, chome, floors, rooms, set())

    def address(self) -> tuple[str, str, str, str]:
        """(住所, 方書, 郵便番号, 住所コード) of a free flat (40 %) or house."""
        rng = self.rng
        if rng.random() < 0.4:
            for _ in range(20):
                building = rng.choice(self.buildings)
                room = rng.randrange(building.floors * building.rooms)
                if room not in building.used:
                    building.used.add(room)
                    floor, number = divmod(room, building.rooms)
                    katagaki = f"{building.name} {floor + 1}{number + 1:02d}号"
                    return building.address, katagaki, *_codes(building.town, building.chome)
        for attempt in range(50):
            town = rng.randrange(len(_TOWNS))
            chome = rng.randint(1, _TOWNS[town][1])
            key = (town, chome, rng.randint(1, 30), rng.randint(1, 25))
            if key not in self.used_addresses or attempt == 49:  # a huge city may share a house
                self.used_addresses.add(key)
                break
        town, chome, ban, go = key
        address = f"{CITY}{_TOWNS[town][0]}{_KANSUJI[chome - 1]}丁目{ban}番{go}号"
        return address, "", *_codes(town, chome)

    # People.

    def japanese(self, sei: tuple[str, str], sex: str, birth: int, relation: str) -> _Person:
        mei, mei_kana = self.given(sex, birth)
        return _Person(sei[0], mei, sei[1], mei_kana, sex, birth, relation)

    def children(self, mother_birth: int, sei: tuple[str, str], wanted: int, relation: str) -> list[_Person]:
        """Up to ``wanted`` children born when the mother was 21–43, oldest first, none in the future."""
        kids: list[_Person] = []
        lo, hi = _y(21), min(_y(38), mother_birth)
        if wanted <= 0 or hi < lo:
            return kids
        at = self.rng.randint(lo, hi)
        while len(kids) < wanted and at <= min(_y(43), mother_birth):
            kids.append(self.japanese(sei, self.rng.choice("12"), mother_birth - at, relation))
            at += self.rng.randint(_y(1.2), _y(4.5))
        return kids

    def couple(self, sei: tuple[str, str], lo: float, hi: float) -> tuple[_Person, _Person]:
        """(head, spouse) sharing ``sei``; the head is the husband except in 4 % of couples."""
        husband_birth = self.age(lo, hi)
        wife_birth = max(_y(19), husband_birth - self.rng.randint(_y(-2), _y(7)))
        husband = self.japanese(sei, "1", husband_birth, "夫")
        wife = self.japanese(sei, "2", wife_birth, "妻")
        if self.chance(0.015):
            kyu_uji, kyu_uji_kana = self.surname()
            if kyu_uji != sei[0]:
                wife.kyu_uji, wife.kyu_uji_kana = kyu_uji, kyu_uji_kana
        if self.chance(0.04):
            wife.relation = "世帯主"
            return wife, husband
        husband.relation = "世帯主"
        return husband, wife

    def residence(self, nation: _Nation, status: str) -> _Residence:
        if status in _NO_EXPIRY:
            return _Residence(nation.name, status, "", 0, self.card_no())
        period = self.rng.choice(_PERIODS[status])
        expires_in = self.rng.randint(14, max(15, _period_days(period)))
        return _Residence(nation.name, status, period, expires_in, self.card_no())

    def foreigner(
        self, nation: _Nation, sex: str, birth: int, relation: str, status: str, sei: _Name
    ) -> _Person:
        """A foreign resident; 氏/名 only when both the surname and the given name have 漢字."""
        given = self.rng.choice(nation.male if sex == "1" else nation.female)
        kanji = bool(sei[2] and given[2])
        return _Person(
            sei[2] if kanji else "",
            given[2] if kanji else "",
            sei[1],
            given[1],
            sex,
            birth,
            relation,
            eiji=f"{sei[0]} {given[0]}",
            residence=self.residence(nation, status),
        )

    # Households.

    def household(self, index: int) -> _Household:
        mj = index % _MJ_EVERY == 7
        previous = ""
        if not mj and self.chance(0.052):
            members, previous = self.foreign_members()
        else:
            members = self.japanese_members(self.mj_surname() if mj else self.surname())
        head = members[0]
        address, katagaki, postal, code = self.address()
        adult_days = max(30, head.birth - _y(18))
        if head.residence is not None and head.residence.status not in _NO_EXPIRY:
            adult_days = min(adult_days, _y(6))  # students and workers came in the last few years
        since = 1 + int(adult_days * self.rng.random() ** 1.7)
        native = head.residence is None and len(members) == 1 and head.age_years < 40 and self.chance(0.35)
        if native:  # born here, left the parents' household
            city_since = head.birth
        elif self.chance(0.25):  # moved within the city
            city_since = since + int((adult_days - since) * self.rng.random())
        else:
            city_since = since
        household = _Household(
            members, address, katagaki, postal, code, since, city_since, previous or self.elsewhere()
        )
        self.settle(household)
        return household

    def japanese_members(self, sei: tuple[str, str]) -> list[_Person]:
        rng = self.rng
        r = rng.random()
        members: list[_Person]
        if r < 0.14:  # young single
            members = [self.japanese(sei, rng.choice("12"), self.age(18, 39), "世帯主")]
        elif r < 0.22:
            members = [self.japanese(sei, rng.choice("12"), self.age(40, 64), "世帯主")]
        elif r < 0.32:  # elderly single, more often a woman
            members = [self.japanese(sei, "2" if self.chance(0.65) else "1", self.age(65, 97), "世帯主")]
        elif r < 0.39:
            members = list(self.couple(sei, 24, 64))
        elif r < 0.50:
            members = list(self.couple(sei, 65, 93))
        elif r < 0.79:  # parents with children
            head, spouse = self.couple(sei, 26, 58)
            mother = head if head.sex == "2" else spouse
            wanted = rng.choices((1, 2, 3, 4), weights=(35, 45, 17, 3))[0]
            members = [head, spouse, *self.children(mother.birth, sei, wanted, "子")]
            self.maybe_foreign_wife(members)
        elif r < 0.84:  # single parent
            parent = self.japanese(sei, "2" if self.chance(0.85) else "1", self.age(25, 55), "世帯主")
            mother_birth = parent.birth if parent.sex == "2" else parent.birth - _y(2)
            members = [parent, *self.children(mother_birth, sei, rng.choice((1, 1, 2, 2, 3)), "子")]
        elif r < 0.89:  # the head's (or the wife's) parents live with the family
            head, spouse = self.couple(sei, 35, 58)
            mother = head if head.sex == "2" else spouse
            members = [head, spouse, *self.children(mother.birth, sei, rng.choice((1, 2, 2, 3)), "子")]
            self.add_elders(members, head, spouse, sei)
        elif r < 0.93:  # elderly head, a married 子 and 孫
            head, spouse = self.couple(sei, 58, 82)
            mother = head if head.sex == "2" else spouse
            members = [head, spouse]
            son_birth = mother.birth - rng.randint(_y(22), _y(36))
            if son_birth >= _y(24):
                son = self.japanese(sei, "1", son_birth, "子")
                wife = self.japanese(sei, "2", max(_y(21), son_birth - rng.randint(_y(-2), _y(6))), "子の妻")
                wife.joined = rng.randint(1, son_birth - _y(22))
                wife.joined_from = self.elsewhere()
                members += [son, wife, *self.children(wife.birth, sei, rng.choice((1, 2, 2)), "孫")]
                self.own_family(son, members[3:])
        elif r < 0.99:  # elderly parent(s) with unmarried adult children
            if self.chance(0.6):
                head, spouse = self.couple(sei, 58, 90)
                mother = head if head.sex == "2" else spouse
                members = [head, spouse]
            else:
                head = self.japanese(sei, "2" if self.chance(0.7) else "1", self.age(58, 90), "世帯主")
                mother, members = head, [head]
            kids = self.children(mother.birth, sei, rng.choice((1, 1, 2)), "子")
            members += [k for k in kids if k.birth >= _y(20)] or kids
        else:  # share house
            head = self.japanese(sei, rng.choice("12"), self.age(20, 35), "世帯主")
            members = [head]
            for _ in range(rng.randint(1, 2)):
                mate = self.japanese(self.surname(), head.sex, self.age(20, 35), "同居人")
                mate.joined, mate.joined_from = rng.randint(1, _y(3)), self.elsewhere()
                mate.honseki, mate.hittosha = self.elsewhere(honseki=True), self.father_name(mate)
                members.append(mate)
        members = members[:6]
        self.family_register(members)
        self.assign_work(members)
        return members

    def father_name(self, person: _Person) -> str:
        """A made-up father: the 筆頭者 of the 戸籍 a young single adult still belongs to."""
        return f"{person.sei}　{self.given('1', person.birth + _y(30))[0]}"

    def add_elders(
        self, members: list[_Person], head: _Person, spouse: _Person, sei: tuple[str, str]
    ) -> None:
        """The head's 母 (sometimes with 父), or in a quarter of families the wife's: 妻の母 (妻の父)."""
        rng = self.rng
        if spouse.sex == "2" and self.chance(0.25):
            hub, prefix, elder_sei = spouse, "妻の", self.surname()
        else:
            hub, prefix, elder_sei = head, "", sei
        mother_birth = hub.birth + rng.randint(_y(24), _y(36))
        if mother_birth > _y(99):
            return
        mother = self.japanese(elder_sei, "2", mother_birth, prefix + "母")
        father_birth = mother_birth + rng.randint(0, _y(5))
        father_name = f"{elder_sei[0]}　{self.given('1', father_birth)[0]}"
        elders = [mother]
        if self.chance(0.4) and father_birth <= _y(98):
            father = self.japanese(elder_sei, "1", father_birth, prefix + "父")
            father_name = father.display_name
            elders.insert(0, father)
        joined, joined_from = rng.randint(1, _y(15)), self.elsewhere()
        honseki = self.elsewhere(honseki=True)
        for elder in elders:
            elder.joined, elder.joined_from = joined, joined_from
            elder.honseki, elder.hittosha = honseki, father_name
        members.extend(elders)

    def own_family(self, son: _Person, family: list[_Person]) -> None:
        """A married 子 heads his own 戸籍: he, his wife and their children share it."""
        honseki = self.local_honseki() if self.chance(0.6) else self.elsewhere(honseki=True)
        for person in (son, *family):
            person.honseki, person.hittosha = honseki, son.display_name

    def family_register(self, members: list[_Person]) -> None:
        """本籍 and 筆頭者 of those without one: a married couple's 戸籍 (the Japanese husband's
        name), else the father's 戸籍 of a young single, else a widow's late husband's, else the
        head's own."""
        head = members[0]
        honseki = self.local_honseki() if self.chance(0.45) else self.elsewhere(honseki=True)
        married = next((m for m in members if m.relation in ("妻", "夫")), None)
        if married is not None:
            hittosha = (head if head.sex == "1" or married.residence is not None else married).display_name
        elif head.age_years < 40 and all(m.relation in ("世帯主", "同居人") for m in members):
            hittosha = self.father_name(head)
        elif head.sex == "2" and head.age_years >= 50 and self.chance(0.6):
            hittosha = f"{head.sei}　{self.given('1', head.birth + _y(3))[0]}"
        else:
            hittosha = head.display_name
        for person in members:
            if person.residence is None and not person.honseki:
                person.honseki, person.hittosha = honseki, hittosha

    def assign_work(self, members: list[_Person]) -> None:
        """Draw everyone's work, then whose employer's insurance covers those without work."""
        head = members[0]
        for person in members:
            person.work = self.work_for(person.birth, spouse=person.relation in ("妻", "夫", "子の妻"))
        spouse = next((m for m in members if m.relation in ("妻", "夫")), None)
        married_child = next(
            (m for m in members if m.relation == "子" and m.hittosha == m.display_name), None
        )
        for person in members:
            if person.work in ("employee", "self"):
                continue
            if person.relation in ("妻", "夫"):
                person.provider = head
            elif person is head:
                person.provider = spouse
            elif person.relation in ("子の妻", "孫"):
                person.provider = married_child
            elif person.relation == "子":
                person.provider = head if head.work == "employee" or spouse is None else spouse

    def maybe_foreign_wife(self, members: list[_Person]) -> None:
        """In 3 % of families the wife of the Japanese head is a foreign resident, half with a 通称."""
        head, wife = members[0], members[1]
        if head.sex != "1" or not self.chance(0.03):
            return
        nation = self.rng.choice(_NATIONS[:-1])
        status = "日本人の配偶者等" if self.chance(0.6) else "永住者"
        foreign = self.foreigner(nation, "2", wife.birth, "妻", status, self.rng.choice(nation.surnames))
        if self.chance(0.5):
            foreign.tsusho = f"{head.sei}　{foreign.mei or foreign.mei_kana}"
            foreign.tsusho_kana = f"{head.sei_kana}　{foreign.mei_kana}"
        members[1] = foreign

    def foreign_members(self) -> tuple[list[_Person], str]:
        """A foreign household and its 転入前住所 ("" = somewhere in Japan, drawn later)."""
        rng = self.rng
        nation = rng.choices(_NATIONS, weights=_NATION_WEIGHTS)[0]
        sei = rng.choice(nation.surnames)
        r = rng.random()
        if nation.name == "韓国" and r < 0.45:
            head_status = family_status = "特別永住者"
            lo, hi = 40, 92
        elif r < 0.55:  # alone: students, trainees, workers
            head_status = rng.choices(_SINGLE_STATUSES, weights=_SINGLE_WEIGHTS)[0]
            lo, hi = _SINGLE_AGES.get(head_status, (23, 50))
            family_status = ""
        else:
            head_status = rng.choices(_FAMILY_STATUSES, weights=_FAMILY_WEIGHTS)[0]
            family_status = head_status if head_status in ("永住者", "定住者") else "家族滞在"
            lo, hi = (30, 70) if head_status == "永住者" else (28, 55)
        head_sex = "1" if family_status or self.chance(0.6) else "2"
        head = self.foreigner(nation, head_sex, self.age(lo, hi), "世帯主", head_status, sei)
        head.work = _STATUS_WORK.get(head_status) or self.work_for(head.birth)
        members = [head]
        if family_status:
            wife_sei = rng.choice(nation.surnames) if nation.wife_keeps_surname else sei
            wife_birth = max(_y(20), head.birth - rng.randint(_y(-2), _y(6)))
            wife = self.foreigner(nation, "2", wife_birth, "妻", family_status, wife_sei)
            wife.work = "none" if family_status == "家族滞在" or self.chance(0.5) else "employee"
            members.append(wife)
            lo_at, hi_at = _y(22), min(_y(40), wife.birth)
            if (r > 0.7 or family_status == "特別永住者") and hi_at >= lo_at:
                at = rng.randint(lo_at, hi_at)
                for _ in range(rng.choice((1, 1, 2, 3))):
                    if at > min(_y(43), wife.birth):
                        break
                    kid = self.foreigner(nation, rng.choice("12"), wife.birth - at, "子", family_status, sei)
                    kid.work = self.work_for(kid.birth)
                    members.append(kid)
                    at += rng.randint(_y(1.5), _y(5))
        if head_status == "特別永住者" and self.chance(0.6):
            tsusho_sei, tsusho_kana = self.surname()
            for person in members:
                mei, mei_kana = self.given(person.sex, person.birth)
                person.tsusho, person.tsusho_kana = f"{tsusho_sei}　{mei}", f"{tsusho_kana}　{mei_kana}"
        for person in members[1:]:
            if person.work not in ("employee", "self"):
                person.provider = head
        previous = nation.name if self.chance(0.45) else ""  # 国外転入: 転入前住所 is the country
        return members, previous

    # Dates and states.

    def settle(self, household: _Household) -> None:
        """住民となった / 住所を定めた / 転入前住所 of each member, and the few 転出, 死亡, 職権記載."""
        rng = self.rng
        single = len(household.members) == 1
        for person in household.members:
            if 0 < person.joined <= min(household.since, person.birth):
                person.resident_since = person.address_since = person.joined
                person.previous = person.joined_from
            elif person.birth <= household.since:
                person.resident_since = person.address_since = person.birth
            elif person.birth <= household.city_since:
                person.resident_since, person.address_since = person.birth, household.since
            else:
                person.resident_since, person.address_since = household.city_since, household.since
                person.previous = household.previous
            r = rng.random()
            movable = (single or person.relation != "世帯主") and person.address_since > 60
            if movable and r < 0.012:
                person.state, person.fixed_event = "2", "転出"
                person.fixed_event_at = rng.randint(1, min(_y(2), person.address_since - 1))
            elif movable and r < 0.03 and person.age_years >= 60:
                person.state, person.fixed_event = "3", "死亡"
                person.fixed_event_at = rng.randint(1, min(_y(2), person.address_since - 1))
            elif person.residence is None and r > 0.997:
                at = rng.randint(1, max(1, person.address_since))
                person.fixed_event, person.fixed_event_at = "職権記載", at
                person.resident_since = person.address_since = at
                person.previous = ""
            person.update_share = rng.random() ** 2
            person.update_second = rng.randint(8 * 3600 + 30 * 60, 17 * 3600 + 15 * 60)


def _first_household() -> _Household:
    """The fixed household at the top of every file (module docstring). No random draws."""
    kasai = ("葛\U000e0102西", "カサイ")
    head = _Person(kasai[0], "\uf9dc之", kasai[1], "タカユキ", "1", _y(52) + 123, "世帯主", work="employee")
    wife = _Person(kasai[0], "美智子", kasai[1], "ミチコ", "2", _y(49) + 40, "妻")
    wife.kyu_uji, wife.kyu_uji_kana = "𠮷田", "ヨシダ"
    daughter = _Person(kasai[0], "陽菜", kasai[1], "ヒナ", "2", _y(16) + 200, "子", work="student")
    son = _Person(kasai[0], "蓮", kasai[1], "レン", "1", _y(11) + 75, "子", work="student")
    grandma = _Person("𠮷田", "和子", "ヨシダ", "カズコ", "2", _y(78) + 10, "妻の母")
    for person in (head, wife, daughter, son):
        person.honseki, person.hittosha = f"{CITY}本町二丁目5番地", head.display_name
    wife.provider = daughter.provider = son.provider = head
    grandma.honseki, grandma.hittosha = "埼玉県さいたま市浦和区高砂二丁目4番地", "𠮷田　茂"
    since = _y(17) + 31
    previous = "東京都世田谷区太子堂三丁目7番12号"
    members = [head, wife, daughter, son, grandma]
    for i, person in enumerate(members):
        if person is grandma:
            person.resident_since = person.address_since = _y(3) + 17
            person.previous = "埼玉県さいたま市浦和区高砂二丁目4番6号"
        elif person.birth <= since:
            person.resident_since = person.address_since = person.birth
        else:
            person.resident_since = person.address_since = since
            person.previous = previous
        person.update_share = 0.1 * i
        person.update_second = 9 * 3600 + 15 * 60 + 7 * i
    return _Household(members, f"{CITY}本町二丁目5番8号", "", *_codes(0, 2), since, since, previous)


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _render(
    person: _Person, household: _Household, numbers: tuple[str, str, str], today: dt.date
) -> dict[str, str]:
    """The person's row; ``numbers`` are (宛名番号, 世帯番号, 住民票コード)."""

    def day(offset: int) -> str:
        return (today - dt.timedelta(days=offset)).isoformat()

    resident_since, address_since, clamped = person.resident_since, person.address_since, False
    residence = person.residence
    if residence is not None:  # foreign residents have been registered since 2012-07-09
        limit = (today - _FOREIGN_REGISTER_START).days
        if 0 <= limit < resident_since:
            resident_since, clamped = limit, True
            address_since = min(address_since, limit)
    if person.fixed_event:
        event, event_at = person.fixed_event, person.fixed_event_at
    elif address_since < resident_since:
        event, event_at = "転居", address_since
    elif clamped:
        event, event_at = "職権記載", resident_since
    elif resident_since == person.birth:
        event, event_at = "出生", resident_since
    else:
        event, event_at = "転入", resident_since
    second = person.update_second
    updated = dt.datetime.combine(
        today - dt.timedelta(days=int(event_at * person.update_share)),
        dt.time(second // 3600, second // 60 % 60, second % 60),
        tzinfo=_JST,
    )

    alive = person.state == "1"
    age = _age(today - dt.timedelta(days=person.birth), today)
    kouki = alive and age >= 75
    provider = person.provider
    employer_insured = person.work == "employee" or (
        person.work != "self" and provider is not None and provider.work == "employee"
    )
    pension = ""
    if alive and 20 <= age <= 59:
        if person.work == "employee":
            pension = "2"
        elif person.relation in ("妻", "夫", "子の妻") and employer_insured:
            pension = "3"
        else:
            pension = "1"
    elif alive and 60 <= age <= 69 and person.work == "employee":
        pension = "2"

    atena, setai, code = numbers
    return {
        "宛名番号": atena,
        "世帯番号": setai,
        "住民票コード": code,
        "住民種別": "1" if residence is None else "2",
        "住民状態": person.state,
        "氏": person.sei,
        "名": person.mei,
        "氏カナ": person.sei_kana,
        "名カナ": person.mei_kana,
        "英字氏名": person.eiji,
        "旧氏": person.kyu_uji,
        "旧氏カナ": person.kyu_uji_kana,
        "通称": person.tsusho,
        "通称カナ": person.tsusho_kana,
        "生年月日": day(person.birth),
        "性別": person.sex,
        "続柄": person.relation,
        "世帯主氏名": household.members[0].display_name,
        "郵便番号": household.postal,
        "住所": household.address,
        "方書": household.katagaki,
        "住所コード": household.address_code,
        "住民となった年月日": day(resident_since),
        "住所を定めた年月日": day(address_since),
        "転入前住所": person.previous,
        "本籍": person.honseki if residence is None else "",
        "筆頭者": person.hittosha if residence is None else "",
        "国籍地域": residence.nationality if residence else "",
        "在留資格": residence.status if residence else "",
        "在留期間": residence.period if residence else "",
        "在留期間満了日": day(-residence.expires_in) if residence and residence.expires_in else "",
        "在留カード等番号": residence.card_no if residence else "",
        "国保": "1" if alive and not kouki and not employer_insured else "0",
        "後期高齢": "1" if kouki else "0",
        "介護保険": "1" if alive and age >= 65 else "0",
        "国民年金種別": pension,
        "児童手当": "1" if alive and age < 15 else "0",
        "異動事由": event,
        "異動年月日": day(event_at),
        "更新日時": updated.isoformat(),
    }


def demo_city_rows(
    *, households: int = 4200, seed: int = 20261121, today: dt.date | None = None, ten: str = "0"
) -> Iterator[dict[str, str]]:
    """Yield one dict per person (keys: ``JUKI_V1_COLUMNS``), household by household, head first.

    ``households`` counts the fixed first household. ``today`` defaults to the real date. ``ten`` is the city's
    check digit for an M11W2-7 result of 10 (``MADOGUCHI_CHECK_DIGIT_TEN``).
    """
    if households < 1:
        raise ValueError("households must be at least 1")
    today = today or dt.date.today()
    builder = _Builder(seed, households)
    rng = builder.rng
    atena_seq, setai_seq = _ATENA_FIRST, _SETAI_FIRST
    for index in range(households):
        household = _first_household() if index == 0 else builder.household(index)
        setai = _setai_no(setai_seq, ten)
        for person in household.members:
            numbers = (_atena_no(atena_seq, ten), setai, builder.juminhyo_code())
            yield _render(person, household, numbers, today)
            # People deleted long ago leave gaps in the numbers, as in a real register.
            atena_seq += 1 if index == 0 or rng.random() < 0.9 else rng.randint(2, 6)
        setai_seq += 1 if rng.random() < 0.85 else rng.randint(2, 9)


def demo_city_csv(
    *, households: int = 4200, seed: int = 20261121, today: dt.date | None = None, ten: str = "0"
) -> bytes:
    """The city as a 住民記録 v1 full snapshot: UTF-8 without BOM, RFC 4180, CRLF.

    Raises ``madoguchi.moji.csvsafe.UnsafeCsvValue`` should a cell ever start like a formula.
    """
    rows = demo_city_rows(households=households, seed=seed, today=today, ten=ten)
    return write_csv(JUKI_V1_COLUMNS, ([row[c] for c in JUKI_V1_COLUMNS] for row in rows))
