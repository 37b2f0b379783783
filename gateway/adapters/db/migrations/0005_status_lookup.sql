-- Public status lookup: the applicant's access code, issued at registration, kept only as a hash.

ALTER TABLE appeal ADD COLUMN access_code_sha256 text;
