"""The intake lifecycle (DOMAIN.md "Lifecycle"): a household found through a discovery report,
an application, a county lead or a department's screening goes through the review chain of
its channel, is publicised (公示) and enrolled (建档、结对帮扶).

Every rule of who may do what, and when, lives here; views parse and render, and a CLI or API
can call the same functions. Functions add to the session and flush; the caller commits once,
so each action is one transaction (with its audit events).

Channels and steps (政策文本 "筛选认定"):
- territorial (辖区): community_review 社区初审 → street_review 街道复核 (with a draft assistance
  plan) → county_confirm 县级综合审核确认. Employer reports (单位报送) and data-comparison leads
  (信息比对) are entered by the county office and handed to the street for checking (核查), so
  they join this chain at street_review.
- departmental (部门: 商务、工信、供销社…): department_review 部门初审 → county_confirm.
- sector (行业: 民政、残联、工会): sector_certify 行业认定 → county_confirm.
Then publicity (stage "publicity", objections may be recorded), then enrolment (stage
"enrolled", state "approved").
A rejection at any step closes the case (state "rejected") and leaves the household 未纳入
(status "rejected"); the watch list (watch.py, policy line 147 加强监测) then monitors it and
brings it back into review.

A return goes back one step. From the first step of the case's path it goes back to whoever
entered it: the stage stays, the case shows "退回补正" until the entry is corrected and
resubmitted. That state is not stored: it is "the last return at this stage is newer than the
stage itself" (a return decision at the current stage with decided_at >= stage_since).

Discovery reports are turned into cases by a person, not automatically: the report is a lead
from the field, often without an ID number, and may describe a household already in the
registry; someone who knows the community decides "new case" or "same as an existing
household" with the duplicate candidates in front of them. An automatic case per report would
put every repeated sighting into the registry as a new household.
"""
