"""Dirty web pages written for mosslite (invented content, no real site): what raw crawled text looks like before
cleaning. The tests, the chapter's notebook, its widget and the exercises all use them."""

ZH_NEWS = """首页 > 新闻 > 科技 > 正文
首页 | 新闻 | 体育 | 娱乐 | 财经 | 科技 | 汽车
登录 注册
小城图书馆开设夜间阅读室
2024年３月５日 09:30　来源：晨光日报
分享到：微信 微博 QQ空间
图为读者在夜间阅读室看书。(图片来源:晨光日报)
本报讯(记者 林小雨)本周一,位于河西区的小城图书馆正式开放夜间阅读室.阅读室每天开放到晚上十一点,周末也不休息。
据馆长介绍,夜间阅读室共有１２０个座位,提供免费无线网络和热水。开放第一周,每晚平均有８０多位读者前来学习。
一位正在准备考试的大学生说:"白天要上班,晚上终于有一个安静的地方可以读书了。"
图书馆还计划在今年夏天增加儿童绘本区,并举办每月一次的读书分享会。
广告：限时优惠！点击进入购买正版图书
相关新闻
· 河西区新建三座口袋公园 2024-03-01
· 春季招聘会本周六举行 2024-02-28
· 市民热议地铁新线路 2024-02-27
· 本地球队主场获胜 2024-02-26
· 气象台发布大风蓝色预警 2024-02-25
· 老街改造工程完工 2024-02-24
· 新能源公交车上路 2024-02-23
· 社区食堂受到老人欢迎 2024-02-22
责任编辑：王芳
版权所有 © 晨光日报社 京ICP备12345678号"""

EN_NEWS = """Home | World | Business | Tech | Science | Sport | Culture
Sign in
Subscribe
Riverside library opens a night reading room
By Lin Xiaoyu, March 5, 2024
Share on Facebook  Share on X  Email
Photo: Readers in the new night reading room.
The Riverside public library opened a night reading room on Monday. The room stays open until eleven o'clock every evening, weekends included.
According to the head librarian, the room has 120 seats, free wireless internet and hot water. In its first week, more than eighty readers came every night.
"I work during the day, so finally I have a quiet place to study in the evening," said a student preparing for an exam.
The library plans to add a picture-book corner for children this summer and to hold a monthly reading circle.
Advertisement
Related stories
- Three pocket parks built in the west district (01-03)
- Spring job fair this Saturday (28-02)
- New metro line divides commuters (27-02)
- Home team wins at last (26-02)
Copyright © 2024 Morning Light Media. All rights reserved.
Privacy Policy"""

SPAM = """★★★★★ 免费下载 ★★★★★ ＶＩＰ破解版 ★★★★★
カジノ 카지노 casino 赌场 ボーナス 보너스 bonus 免费
加ＱＱ：１２３４５６７８ 加ＱＱ：１２３４５６７８ 加ＱＱ：１２３４５６７８
免费下载免费下载免费下载免费下载免费下载免费下载免费下载免费下载免费下载免费下载
❤❤❤ www.xxx-casino.example ❤❤❤ ▓▓▓ 点击进入 ▓▓▓"""

BLOG = """My garden in March
The tulips came up early this year. I planted them in November in the sunny corner by the fence, and by the first week of March the leaves were already a hand high.
Last weekend I moved the tomato seedlings into bigger pots. They need a lot of light, so they now sit on the kitchen windowsill.
The tulips came up early this year. I planted them in November in the sunny corner by the fence, and by the first week of March the leaves were already a hand high.
Next month I will sow beans and peas directly into the soil, as soon as the nights are warmer."""

# The Chinese article again, reposted by another site: new furniture, one sentence trimmed.
ZH_REPOST = """网站首页 | 本地 | 国内 | 国际 | 评论
小城图书馆开设夜间阅读室
来源：晨光日报
本报讯(记者 林小雨)本周一,位于河西区的小城图书馆正式开放夜间阅读室.阅读室每天开放到晚上十一点,周末也不休息。
据馆长介绍,夜间阅读室共有１２０个座位,提供免费无线网络和热水。开放第一周,每晚平均有８０多位读者前来学习。
一位正在准备考试的大学生说:"白天要上班,晚上终于有一个安静的地方可以读书了。"
图书馆还计划在今年夏天增加儿童绘本区。
扫一扫，关注我们
关于我们 | 联系我们 | 网站地图"""

RU_PAGE = """Библиотека открыла ночной читальный зал
Читальный зал работает каждый день до одиннадцати часов вечера, включая выходные. В нём сто двадцать мест."""

TOO_SHORT = "点击查看更多"

PAGES = {"zh_news": ZH_NEWS, "en_news": EN_NEWS, "spam": SPAM, "blog": BLOG, "zh_repost": ZH_REPOST,
         "en_news_again": EN_NEWS, "ru_page": RU_PAGE, "too_short": TOO_SHORT}
