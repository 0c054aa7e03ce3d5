"""Custody and disposition (issue 17): what happens to a record after it is filed.

Sub-apps, one per workflow, each with its models, services and selectors: `volumes` (组卷),
`transfers` (移交 and custody), `appraisal` (鉴定 and retention rules), `destruction` (holds and
销毁). Shared here: the transition tables (`workflow`), the registers as documents
(`registers`), and the to-dos a workflow step leaves for a person (`todos`)."""
