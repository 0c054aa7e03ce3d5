"""Reading an OA platform's directory (departments and members) through a configured
connector: DingTalk `topapi/v2/department/listsub` + `topapi/v2/user/list` (cursor), WeCom
`cgi-bin/department/list` + `cgi-bin/user/list`, Feishu contact v3
`departments/:id/children` + `users/find_by_department` (page_token).

Any API error aborts the whole read (the sync then changes nothing): a partial directory must
never look like a mass departure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kjda.connectors.base import OAConnector
from kjda.errors import DomainError

MAX_PAGES = 10_000  # a runaway cursor must end


@dataclass(frozen=True)
class DirectoryDepartment:
    external_id: str
    name: str
    parent_id: str = ""


@dataclass(frozen=True)
class DirectoryPerson:
    user_id: str  # what the login provider uses as the account uid
    name: str
    department: str = ""  # name of the main department
    mobile: str = ""
    email: str = ""
    active: bool = True


@dataclass
class Directory:
    departments: list[DirectoryDepartment] = field(default_factory=list)
    people: dict[str, DirectoryPerson] = field(default_factory=dict)


def directory_read(oa: OAConnector) -> Directory:
    readers = {"dingtalk": _dingtalk, "wecom": _wecom, "feishu": _feishu}
    if oa.kind not in readers:
        raise DomainError("directory_unsupported", f"{oa.label} 不提供通讯录同步",
                          f"{oa.kind} has no directory to sync")
    return readers[oa.kind](oa)


def _dingtalk(oa) -> Directory:
    out = Directory()
    root = oa._oapi("/topapi/v2/department/get", {"dept_id": 1, "language": "zh_CN"})["result"]
    todo, names = [root], {}
    while todo:  # breadth first over the department tree
        dept = todo.pop(0)
        names[int(dept["dept_id"])] = str(dept["name"])
        out.departments.append(DirectoryDepartment(str(dept["dept_id"]), str(dept["name"]),
                                                   str(dept.get("parent_id") or "")))
        todo += oa._oapi("/topapi/v2/department/listsub",
                         {"dept_id": dept["dept_id"], "language": "zh_CN"}).get("result") or []
    for dept_id in names:
        cursor = 0
        for _ in range(MAX_PAGES):
            page = oa._oapi("/topapi/v2/user/list", {"dept_id": dept_id, "cursor": cursor,
                                                     "size": 100, "language": "zh_CN"})["result"]
            for u in page.get("list") or []:
                depts = u.get("dept_id_list") or [dept_id]
                out.people.setdefault(str(u["userid"]), DirectoryPerson(
                    str(u["userid"]), str(u.get("name") or ""), names.get(int(depts[0]), ""),
                    str(u.get("mobile") or ""), str(u.get("email") or ""),
                    bool(u.get("active", True))))
            if not page.get("has_more"):
                break
            cursor = page["next_cursor"]
    return out


def _wecom(oa) -> Directory:
    out = Directory()
    depts = oa._call("GET", "/cgi-bin/department/list").get("department") or []
    names = {str(d["id"]): str(d["name"]) for d in depts}
    for d in depts:
        out.departments.append(DirectoryDepartment(str(d["id"]), str(d["name"]),
                                                   str(d.get("parentid") or "")))
    for dept_id in names:
        members = oa._call("GET", "/cgi-bin/user/list",
                           params={"department_id": dept_id}).get("userlist") or []
        for u in members:
            main = str(u.get("main_department") or (u.get("department") or [dept_id])[0])
            # status: 1 active, 2 disabled, 4 not yet activated, 5 left
            out.people.setdefault(str(u["userid"]), DirectoryPerson(
                str(u["userid"]), str(u.get("name") or ""), names.get(main, ""),
                str(u.get("mobile") or ""), str(u.get("email") or u.get("biz_mail") or ""),
                int(u.get("status") or 1) in (1, 4)))
    return out


def _feishu_pages(oa, path: str, params: dict) -> list[dict]:
    items: list[dict] = []
    token = ""
    for _ in range(MAX_PAGES):
        data = oa._call("GET", path, params={**params, "page_size": 50,
                                             **({"page_token": token} if token else {})})
        items += data.get("items") or []
        if not data.get("has_more"):
            return items
        token = data["page_token"]
    return items


def _feishu(oa) -> Directory:
    out = Directory()
    depts = _feishu_pages(oa, "/open-apis/contact/v3/departments/0/children",
                          {"department_id_type": "open_department_id", "fetch_child": "true"})
    names = {"0": ""}
    for d in depts:
        if (d.get("status") or {}).get("is_deleted"):
            continue
        names[d["open_department_id"]] = str(d["name"])
        out.departments.append(DirectoryDepartment(d["open_department_id"], str(d["name"]),
                                                   str(d.get("parent_department_id") or "")))
    for dept_id in names:
        for u in _feishu_pages(oa, "/open-apis/contact/v3/users/find_by_department",
                               {"department_id": dept_id, "user_id_type": "open_id",
                                "department_id_type": "open_department_id"}):
            status = u.get("status") or {}
            main = (u.get("department_ids") or [dept_id])[0]
            out.people.setdefault(str(u["open_id"]), DirectoryPerson(
                str(u["open_id"]), str(u.get("name") or ""), names.get(main, ""),
                str(u.get("mobile") or ""),
                str(u.get("enterprise_email") or u.get("email") or ""),
                not status.get("is_resigned") and not status.get("is_frozen")))
    return out
