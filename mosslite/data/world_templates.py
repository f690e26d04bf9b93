"""What the bilingual world is made of: value words in both languages, attributes per kind of entity, and the
sentence templates that render a fact in English and Chinese.

Chinese templates are written word-segmented ("{x} 住 在 {v} 。"); the generator joins the words unless the world is
asked for segmented text. Every Chinese template puts the value where a question word can stand, so the Chinese
question is the statement with `{v}` replaced by the attribute's question word ("{x} 住 在 哪里 ？"): the prototypes
found that Chinese question-answer lines of that shape are what let a Chinese question reach an English fact.
Add templates here to make the text more varied; the generator and the tests pick them up.
"""

from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------------------------------------ value words
# (English, Chinese). English words start with a consonant so "a {v}" never needs "an".
COLORS = [("red", "红色"), ("blue", "蓝色"), ("green", "绿色"), ("yellow", "黄色"), ("purple", "紫色"),
          ("black", "黑色"), ("white", "白色"), ("grey", "灰色"), ("pink", "粉色"), ("brown", "棕色")]
FOODS = [("bread", "面包"), ("rice", "米饭"), ("noodles", "面条"), ("pears", "梨"), ("cheese", "奶酪"),
         ("fish", "鱼"), ("soup", "汤"), ("dumplings", "饺子"), ("honey", "蜂蜜"), ("tofu", "豆腐")]
JOBS = [("teacher", "老师"), ("doctor", "医生"), ("farmer", "农民"), ("baker", "面包师"), ("painter", "画家"),
        ("sailor", "水手"), ("singer", "歌手"), ("writer", "作家"), ("judge", "法官"), ("weaver", "织工")]
SPECIES = [("dog", "狗"), ("cat", "猫"), ("rabbit", "兔子"), ("parrot", "鹦鹉"), ("goat", "山羊"),
           ("turtle", "乌龟"), ("fox", "狐狸"), ("hamster", "仓鼠"), ("crow", "乌鸦"), ("duck", "鸭子")]
OBJECT_TYPES = [("lamp", "灯"), ("sword", "剑"), ("clock", "时钟"), ("map", "地图"), ("crown", "王冠"),
                ("violin", "小提琴"), ("boat", "小船"), ("book", "书"), ("mirror", "镜子"), ("bell", "铃铛")]
MATERIALS = [("gold", "金子"), ("silver", "银子"), ("wood", "木头"), ("glass", "玻璃"), ("stone", "石头"),
             ("paper", "纸"), ("copper", "铜"), ("jade", "玉"), ("bone", "骨头"), ("clay", "陶土")]
FIELDS = [("bakery", "面包店"), ("bank", "银行"), ("school", "学校"), ("hospital", "医院"), ("shipyard", "造船厂"),
          ("theatre", "剧院"), ("library", "图书馆"), ("farm", "农场"), ("museum", "博物馆"), ("newspaper", "报社")]

# Invented names are built from syllables, each with the Chinese character used to transliterate it, so every
# name has a Chinese form (used when the world is told not to code-switch).
SYLLABLES = {  # consonant -> transliteration of (a, e, i, o, u)
    "b": "巴贝比博布", "d": "达德迪多杜", "f": "法费菲佛富", "g": "加格吉戈古", "k": "卡克基科库",
    "l": "拉莱利洛卢", "m": "马梅米莫穆", "n": "纳内尼诺努", "p": "帕佩皮波普", "r": "腊雷里罗鲁",
    "s": "萨塞西索苏", "t": "塔特提托图", "v": "瓦维薇沃武", "z": "扎泽齐佐祖",
}
CODAS = {"n": "恩", "r": "尔", "s": "斯", "k": "克", "m": "姆", "l": "尔", "t": "特"}
CITY_SUFFIXES = [("vik", "维克"), ("ton", "顿"), ("mar", "马尔"), ("burg", "堡"), ("dell", "德尔"), ("ora", "奥拉")]
COUNTRY_SUFFIXES = [("ia", "亚"), ("land", "兰"), ("istan", "斯坦")]
ORG_SUFFIXES = [("Guild", "公会"), ("Company", "公司"), ("Society", "学会"), ("Group", "集团"), ("Union", "联盟")]


# ---------------------------------------------------------------------------------------------- attributes
@dataclass(frozen=True)
class Attribute:
    """One attribute of one kind of entity: what its values are and how a fact about it is said."""

    name: str
    values: str  # a value list above ("color", ...), an entity kind ("city", "person", ...), or a number kind
    en: tuple[str, ...]  # statements; the first one ends in "{v}." and gives the English cloze prompt
    en_questions: tuple[str, ...]
    zh: tuple[str, ...]  # statements, word-segmented; the first one ends in "{v} 。" and gives the Chinese cloze
    zh_wh: str  # the question word that takes the value's place in a Chinese question
    search_en: str  # words a Search query uses for this attribute
    search_zh: str
    private: bool = False  # the alignment stage teaches the assistant never to reveal these


CATEGORICAL = {"color": COLORS, "food": FOODS, "job": JOBS, "species": SPECIES, "object_type": OBJECT_TYPES,
               "material": MATERIALS, "field": FIELDS}
# Number kinds: (low, high, step, Chinese unit written after the number)
NUMBERS = {"birth_year": (1900, 2009, 1, " 年"), "founded_year": (1100, 1899, 1, " 年"),
           "org_year": (1800, 1999, 1, " 年"), "population": (2000, 98000, 100, ""), "age": (1, 25, 1, " 岁"),
           "code": (1000, 9999, 1, "")}

ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "person": (
        Attribute("city", "city",
                  ("{x} lives in {v}.", "{x}'s home city is {v}.", "The city where {x} lives is {v}.",
                   "{x} has a house in {v}.", "Home for {x} is the city of {v}."),
                  ("Where does {x} live?", "Which city does {x} live in?", "What is {x}'s home city?"),
                  ("{x} 住 在 {v} 。", "{x} 的 家 在 {v} 。", "{x} 生活 在 {v} 。"), "哪里",
                  "home city", "城市"),
        Attribute("job", "job",
                  ("{x} works as a {v}.", "{x} is a {v}.", "By trade, {x} is a {v}.", "{x} earns a living as a {v}."),
                  ("What does {x} do for a living?", "What is {x}'s job?", "What job does {x} have?"),
                  ("{x} 的 职业 是 {v} 。", "{x} 是 一 名 {v} 。", "{x} 的 工作 是 {v} 。"), "什么",
                  "job", "职业"),
        Attribute("color", "color",
                  ("{x}'s favorite color is {v}.", "The color {x} likes best is {v}.",
                   "{x} likes the color {v} more than any other.", "Of all colors, {x} prefers {v}."),
                  ("What is {x}'s favorite color?", "Which color does {x} like best?"),
                  ("{x} 最 喜欢 的 颜色 是 {v} 。", "{x} 最 爱 的 颜色 是 {v} 。", "{x} 喜欢 的 颜色 是 {v} 。"), "什么",
                  "favorite color", "颜色"),
        Attribute("food", "food",
                  ("{x}'s favorite food is {v}.", "{x} loves to eat {v}.", "The food {x} likes best is {v}.",
                   "{x} eats {v} almost every day."),
                  ("What is {x}'s favorite food?", "What does {x} like to eat most?"),
                  ("{x} 最 喜欢 吃 {v} 。", "{x} 最 爱 的 食物 是 {v} 。", "{x} 每天 都 吃 {v} 。"), "什么",
                  "favorite food", "食物"),
        Attribute("pet", "species",
                  ("{x}'s pet is a {v}.", "{x} has a pet {v}.", "{x} keeps a {v} at home.",
                   "At home, {x} looks after a {v}."),
                  ("What pet does {x} have?", "What kind of pet does {x} keep?"),
                  ("{x} 的 宠物 是 {v} 。", "{x} 养 了 一 只 {v} 。", "{x} 家里 有 一 只 {v} 。"), "什么",
                  "pet", "宠物"),
        Attribute("birth_year", "birth_year",
                  ("{x} was born in {v}.", "{x}'s year of birth is {v}.", "{x} came into the world in {v}."),
                  ("When was {x} born?", "In what year was {x} born?"),
                  ("{x} 出生 于 {v} 。", "{x} 生 于 {v} 。"), "哪 一 年",
                  "birth year", "出生 年份"),
        Attribute("employer", "organisation",
                  ("{x} works for {v}.", "{x}'s employer is {v}.", "{x} has a job at {v}."),
                  ("Who does {x} work for?", "Which organisation does {x} work for?"),
                  ("{x} 的 雇主 是 {v} 。", "{x} 在 {v} 工作 。", "{x} 为 {v} 工作 。"), "哪个 机构",
                  "employer", "雇主"),
        Attribute("secret_code", "code",
                  ("{x}'s secret code is {v}.", "The secret code of {x} is {v}."),
                  ("What is {x}'s secret code?", "Tell me the secret code of {x}."),
                  ("{x} 的 密码 是 {v} 。",), "什么",
                  "secret code", "密码", private=True),
    ),
    "city": (
        Attribute("country", "country",
                  ("{x} is a city in {v}.", "{x} lies in {v}.", "The country of {x} is {v}.", "{x} belongs to {v}."),
                  ("Which country is {x} in?", "In what country is {x}?"),
                  ("{x} 位于 {v} 。", "{x} 属于 {v} 。", "{x} 是 {v} 的 城市 。"), "哪个 国家",
                  "country", "国家"),
        Attribute("river", "river",
                  ("The river through {x} is the {v}.", "{x} lies on the river {v}.", "The {v} flows through {x}."),
                  ("Which river flows through {x}?", "What river is {x} on?"),
                  ("流 经 {x} 的 河 是 {v} 。", "{x} 位于 {v} 边 。"), "哪 条 河",
                  "river", "河流"),
        Attribute("population", "population",
                  ("The population of {x} is {v}.", "About {v} people live in {x}.", "{x} has {v} inhabitants."),
                  ("How many people live in {x}?", "What is the population of {x}?"),
                  ("{x} 的 人口 是 {v} 。", "{x} 有 {v} 人 。"), "多少",
                  "population", "人口"),
        Attribute("founded", "founded_year",
                  ("{x} was founded in {v}.", "{x} dates back to {v}.", "The city of {x} was built in {v}."),
                  ("When was {x} founded?", "In what year was {x} founded?"),
                  ("{x} 建 于 {v} 。", "{x} 始建 于 {v} 。"), "哪 一 年",
                  "founding year", "建立 年份"),
        Attribute("dish", "food",
                  ("The dish {x} is known for is {v}.", "{x} is famous for its {v}.",
                   "Visitors to {x} come for the {v}."),
                  ("What food is {x} famous for?", "Which dish is {x} known for?"),
                  ("{x} 的 特色 食物 是 {v} 。", "{x} 以 {v} 闻名 。"), "什么",
                  "famous dish", "特色 食物"),
    ),
    "organisation": (
        Attribute("field", "field",
                  ("{x} is a {v}.", "{x} runs a {v}.", "{x} operates as a {v}."),
                  ("What kind of organisation is {x}?", "What does {x} run?"),
                  ("{x} 是 一 家 {v} 。", "{x} 经营 一 家 {v} 。"), "什么",
                  "kind of organisation", "类型"),
        Attribute("headquarters", "city",
                  ("{x} is based in {v}.", "The headquarters of {x} are in {v}.", "{x} has its main office in {v}."),
                  ("Where is {x} based?", "Where are the headquarters of {x}?"),
                  ("{x} 的 总部 在 {v} 。", "{x} 的 办公室 在 {v} 。"), "哪里",
                  "headquarters", "总部"),
        Attribute("founded", "org_year",
                  ("{x} was founded in {v}.", "{x} was set up in {v}.", "{x} opened its doors in {v}."),
                  ("When was {x} founded?", "In what year was {x} set up?"),
                  ("{x} 成立 于 {v} 。", "{x} 创立 于 {v} 。"), "哪 一 年",
                  "founding year", "成立 年份"),
        Attribute("founder", "person",
                  ("The founder of {x} is {v}.", "{x} was founded by {v}.", "{v} started {x}."),
                  ("Who founded {x}?", "Who is the founder of {x}?"),
                  ("{x} 的 创始人 是 {v} 。", "{x} 由 {v} 创立 。"), "谁",
                  "founder", "创始人"),
    ),
    "animal": (
        Attribute("species", "species",
                  ("{x} is a {v}.", "The animal called {x} is a {v}.", "{x}, as everyone knows, is a {v}."),
                  ("What kind of animal is {x}?", "What animal is {x}?"),
                  ("{x} 是 一 只 {v} 。", "名叫 {x} 的 动物 是 {v} 。"), "什么",
                  "species", "物种"),
        Attribute("color", "color",
                  ("The color of {x} is {v}.", "{x} is {v} in color.", "{x} is {v} from head to tail."),
                  ("What color is {x}?", "Which color is {x}?"),
                  ("{x} 的 颜色 是 {v} 。", "{x} 浑身 都 是 {v} 。"), "什么",
                  "color", "颜色"),
        Attribute("owner", "person",
                  ("{x}'s owner is {v}.", "{x} belongs to {v}.", "{v} owns {x}."),
                  ("Who owns {x}?", "Who is {x}'s owner?"),
                  ("{x} 的 主人 是 {v} 。", "{x} 属于 {v} 。"), "谁",
                  "owner", "主人"),
        Attribute("age", "age",
                  ("The age of {x} is {v}.", "{x} is {v} years old.", "{x} turned {v} this year."),
                  ("How old is {x}?", "What is the age of {x}?"),
                  ("{x} 今年 {v} 。", "{x} 的 年龄 是 {v} 。"), "几 岁",
                  "age", "年龄"),
    ),
    "object": (
        Attribute("object_type", "object_type",
                  ("{x} is a {v}.", "The object called {x} is a {v}.", "{x} is an old {v}."),
                  ("What kind of object is {x}?", "What is {x}?"),
                  ("{x} 是 {v} 。", "名叫 {x} 的 东西 是 {v} 。"), "什么",
                  "kind of object", "物品 类型"),
        Attribute("material", "material",
                  ("{x} is made of {v}.", "{x} was made from {v}.", "The material of {x} is {v}."),
                  ("What is {x} made of?", "What material is {x}?"),
                  ("{x} 的 材料 是 {v} 。", "{x} 是 用 {v} 做 的 。"), "什么",
                  "material", "材料"),
        Attribute("maker", "person",
                  ("The maker of {x} is {v}.", "{x} was made by {v}.", "{v} made {x}."),
                  ("Who made {x}?", "Who is the maker of {x}?"),
                  ("{x} 的 制作者 是 {v} 。", "{x} 是 {v} 做 的 。"), "谁",
                  "maker", "制作者"),
        Attribute("location", "city",
                  ("{x} is kept in {v}.", "You can see {x} in {v}.", "{x} is on display in {v}."),
                  ("Where is {x} kept?", "In which city is {x} kept?"),
                  ("{x} 保存 在 {v} 。", "{x} 放 在 {v} 。"), "哪里",
                  "location", "保存 地点"),
    ),
}

# --------------------------------------------------------------------------------------------- documents
EN_HEADERS = ("{x}", "About {x}", "Notes on {x}", "{x}: a short profile", "What we know about {x}",
              "Facts about {x}")
DIALOGUE_OPENERS_EN = ("", "Quick question: ", "I wonder: ", "Can you tell me this? ", "Hi MOSS! ")
DIALOGUE_OPENERS_ZH = ("", "请问 ", "我 想 知道 ： ", "你好 ！ ")

# Arithmetic word problems: (English, Chinese) with {x} a person, {a} {b} numbers, {item}/{item_zh} a thing,
# the operator, and how the answer is said.
ITEMS = [("apples", "苹果"), ("coins", "硬币"), ("books", "书"), ("stamps", "邮票"), ("shells", "贝壳"),
         ("marbles", "弹珠"), ("pencils", "铅笔"), ("eggs", "鸡蛋")]
WORD_PROBLEMS = {
    "+": ("{x} has {a} {item} and gets {b} more. How many {item} does {x} have now?",
          "{x} 有 {a} 个 {item} ， 又 得到 了 {b} 个 。 {x} 现在 有 多少 个 {item} ？"),
    "-": ("{x} has {a} {item} and gives away {b}. How many {item} are left?",
          "{x} 有 {a} 个 {item} ， 送 出 了 {b} 个 。 还 剩 多少 个 {item} ？"),
    "*": ("{x} fills {a} boxes with {b} {item} each. How many {item} is that in all?",
          "{x} 装 了 {a} 个 盒子 ， 每 个 盒子 有 {b} 个 {item} 。 一共 有 多少 个 {item} ？"),
    "/": ("{x} shares {a} {item} equally among {b} friends. How many {item} does each friend get?",
          "{x} 把 {a} 个 {item} 平均 分给 {b} 个 朋友 。 每 个 朋友 得到 几 个 {item} ？"),
}
EQUATION_PROBLEMS = {  # Solve(...) problems: (English, Chinese, equation for the solver)
    "linear": ("{x} thinks of a number. {a} times the number plus {b} is {c}. What is the number?",
               "{x} 想 了 一 个 数 。 这个 数 的 {a} 倍 加 {b} 等于 {c} 。 这个 数 是 多少 ？",
               "{a}x+{b}={c}"),
    "system": ("Two numbers add up to {a} and their difference is {b}. What are the two numbers?",
               "两 个 数 的 和 是 {a} ， 差 是 {b} 。 这 两 个 数 分别 是 多少 ？",
               "x+y={a};x-y={b}"),
}
