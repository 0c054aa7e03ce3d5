"""Chinese values stored as data (choice labels, the retention table, check names) that the UI
shows translated. Listed here with `gettext_noop` so `makemessages` keeps them in the catalogue;
templates translate them with the `tr` filter (`{{ record.get_status_display|tr }}`).
"""

from django.utils.translation import gettext_noop as _

DATA_STRINGS = [
    # TransferState, Decision, Side, Custody, transfer steps (issue 17 item 3)
    _("草稿"), _("已提交（检测中）"), _("已检测（待接收）"), _("已接收"), _("部分接收"), _("已退回"),
    _("已取消"), _("待决定"), _("接收"), _("退回"), _("移交方（会计机构）"), _("接收方（档案机构）"),
    _("提交并签署移交清册"), _("取消移交"), _("会计机构暂管"), _("档案机构保管"),
    # RecordStatus, Retention, Arrangement, SecurityLevel, FileRole
    _("已归档"), _("待处理"), _("已撤销"), _("已撤回"),
    _("永久"), _("30年"), _("10年"), _("报废清理后保管5年"),
    _("按件"), _("按卷"),
    _("公开"), _("限制"), _("秘密"), _("机密"), _("绝密"),
    _("原件"), _("转换件"), _("签名文件"), _("附件"),
    # 门类 and 附表1 保管期限表
    _("会计凭证"), _("会计账簿"), _("财务会计报告"), _("其他会计资料"),
    _("原始凭证"), _("记账凭证"), _("总账"), _("明细账"), _("日记账"), _("固定资产卡片"),
    _("其他辅助性账簿"), _("月度、季度、半年度财务会计报告"), _("年度财务会计报告"),
    _("银行存款余额调节表"), _("银行对账单"), _("纳税申报表"), _("会计档案移交清册"),
    _("会计档案保管清册"), _("会计档案销毁清册"), _("会计档案鉴定意见书"),
    _("含现金日记账和银行存款日记账"), _("固定资产报废清理后保管5年"),
    # M88 业务行为 of a view, preview, download or print (issue 18 item 5)
    _("利用"),
    # 格式监测 (issue 19 item 6): FormatCategory, RunState, M88 of a migration
    _("长期保存格式"), _("可接受格式"), _("风险格式"), _("进行中"), _("已完成"),
    _("已停止（取消风险标记）"), _("无可用转换工具"), _("迁移"),
    # 四性检测
    _("归档"), _("真实性"), _("完整性"), _("可用性"), _("安全性"),
    _("固化信息有效性检测（摘要值）"), _("元数据项数据长度检测"),
    _("电子文件存储完整性检测（文件存在）"),
    _("元数据项数据类型、格式检测"), _("设定值域的元数据项值域符合度检测"),
    _("元数据项数据值合理性检测"), _("元数据项数据包含特殊字符检测"),
    _("元数据项数据重复性检测"), _("内容数据的电子属性一致性检测"), _("元数据与内容关联一致性检测"),
    _("档号规范性检测"),
    _("总件数相符性检测"), _("总字节数相符性检测"), _("元数据必填项检测"),
    _("连续性元数据项检测"), _("内容数据完整性检测"), _("内容数据可读性检测"),
    _("内容数据格式合规性检测"), _("信息包无加密、无专有压缩检测"), _("恶意代码检测"),
    _("活动内容检测（脚本、动作、嵌入程序）"), _("归档过程安全性检测"),
    # 业务实体 actions, audit outcomes, agent types
    _("四性检测"), _("历史行为"), _("成功"), _("失败"), _("拒绝"),
    _("单位"), _("内设机构"), _("个人"),
    # OA integration: platform labels (kjda.platforms), Scenario, InboxStatus, NoticeStatus (已归档, 失败 above)
    _("钉钉"), _("企业微信"), _("飞书"), _("泛微 e-cology"), _("通用签名 Webhook"),
    _("报销"), _("合同"), _("付款"),
    _("已接收"), _("处理中"), _("已忽略"),
    _("待发送"), _("发送中"), _("已发送"), _("发送失败"),
    # connector settings help (settings_spec; DingTalk's are bilingual already)
    _("企业ID（CorpID），也是回调密文里的 receiveid"), _("自建应用的 Secret"),
    _("自建应用的 AgentId（发送应用消息需要）"), _("接收事件服务器的 Token"),
    _("EncodingAESKey（43 位）"), _("企业微信 API 地址；测试时指向模拟器"),
    _("应用凭证 App ID（cli_…）"), _("应用凭证 App Secret"), _("事件订阅 Verification Token"),
    _("事件订阅 Encrypt Key（可不设置：飞书允许不加密）"), _("开放平台地址"),
    _("OA 地址，如 http://oa.example.com"), _("ECOLOGY_BIZ_EC 中登记的 APPID（许可证号码）"),
    _("Action 推送签名密钥（whsec_…）"), _("OA 服务端 RSA 公钥（注册后自动填入）"),
    _("本系统 RSA 私钥（首次使用时生成）"), _("调用接口所用的 OA 用户 id"),
    _("可选：允许推送的 OA 服务器 IP/网段，逗号分隔；留空不限"),
    _("whsec_ + base64(key)（或原始密钥）；轮换期间可填两个，以空格或逗号分隔"),
    _("可选：通知/待办推送地址，按同样方式签名（Standard Webhooks）"),
]

# Codes stored in English (event actions, notice reasons) → their Chinese label; shown with `tr`.
EVENT_ACTIONS = {"approved": _("审批通过"), "revoked": _("审批撤销"), "finished": _("审批结束（未通过）"),
                 "ignored": _("忽略")}
NOTICE_REASONS = {
    "archive_failed": _("归档失败"), "invoice_missing": _("缺少发票"),
    "check_failed": _("检测未通过"), "duplicate_claim": _("疑似重复报销"),
}
EVENT_SOURCES = {"callback": _("回调"), "sweep": _("同步"), "retry": _("重试")}

# Holds and destruction (issue 17 items 5 and 6): HoldKind, HoldState, DestructionState,
# ItemState, Signatory, Witness, and RecordStatus.DESTROYED.
DESTRUCTION_STRINGS = [
    _("未结清的债权债务"), _("未了事项"), _("诉讼"), _("审计"), _("在建项目"),
    _("保全中"), _("已解除"),
    _("草稿"), _("待签署"), _("已签署"), _("销毁中"), _("已销毁"), _("已撤销"),
    _("待销毁"), _("文件已删除"), _("暂缓销毁"),
    _("单位负责人"), _("档案管理机构负责人"), _("会计管理机构负责人"), _("档案管理机构经办人"),
    _("会计管理机构经办人"), _("档案管理机构监销人"), _("会计管理机构监销人"),
    _("信息系统管理机构监销人"),
]
