-- A SQLite file as Sentinel made it before migrations existed: create_all of the models of commit a111828^
-- (the schema of revision 0001), with a job, its attempt, its evaluation, image and vote. Made by that code; do not edit.
BEGIN TRANSACTION;
CREATE TABLE evaluations (
	id VARCHAR(40) NOT NULL, 
	task VARCHAR(100) NOT NULL, 
	params JSON NOT NULL, 
	image_id VARCHAR(64) NOT NULL, 
	source_image_id VARCHAR(64), 
	mask_image_id VARCHAR(64), 
	status VARCHAR(16) NOT NULL, 
	rubric JSON NOT NULL, 
	panel JSON NOT NULL, 
	escalation_judges JSON NOT NULL, 
	escalation JSON, 
	escalated_at DATETIME, 
	quorum INTEGER NOT NULL, 
	verdict VARCHAR(8), 
	summary VARCHAR, 
	failed_judges INTEGER, 
	result JSON, 
	callback_url VARCHAR, 
	created_at DATETIME, 
	deadline_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(image_id) REFERENCES images (id), 
	FOREIGN KEY(source_image_id) REFERENCES images (id), 
	FOREIGN KEY(mask_image_id) REFERENCES images (id)
);
INSERT INTO "evaluations" VALUES('ev_kept','text-to-image','{"w": 1}','aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',NULL,NULL,'done','{}','["pixels"]','[]','null',NULL,1,'green',NULL,NULL,'null',NULL,'2026-01-02 03:04:05.000000','2026-01-02 03:04:05.000000',NULL);
CREATE TABLE idempotency_records (
	id INTEGER NOT NULL, 
	scope VARCHAR(100) NOT NULL, 
	endpoint VARCHAR(100) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	status_code INTEGER, 
	response JSON, 
	headers JSON, 
	created_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_idempotency_scope_endpoint_key UNIQUE (scope, endpoint, "key")
);
CREATE TABLE images (
	id VARCHAR(64) NOT NULL, 
	mime VARCHAR(32) NOT NULL, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	size_bytes INTEGER NOT NULL, 
	created_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "images" VALUES('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','image/png',8,8,99,'2026-01-02 03:04:05.000000');
CREATE TABLE job_attempts (
	id INTEGER NOT NULL, 
	job_id VARCHAR(40) NOT NULL, 
	slot INTEGER NOT NULL, 
	number INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	prompt VARCHAR NOT NULL, 
	guidance VARCHAR, 
	provider VARCHAR(100), 
	provider_model VARCHAR(200), 
	image_id VARCHAR(64), 
	evaluation_id VARCHAR(40), 
	verdict VARCHAR(8), 
	failed_judges INTEGER, 
	passed_criteria INTEGER, 
	summary VARCHAR, 
	error VARCHAR, 
	generation_ms FLOAT, 
	lease_until DATETIME, 
	started_at DATETIME, 
	finished_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_attempt_job_slot_number UNIQUE (job_id, slot, number), 
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);
INSERT INTO "job_attempts" VALUES(1,'job_kept',0,1,'judged','a red cube',NULL,NULL,NULL,'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','ev_kept','green',NULL,NULL,NULL,NULL,NULL,NULL,'2026-01-02 03:04:05.000000','2026-01-02 03:04:05.000000');
CREATE TABLE jobs (
	id VARCHAR(40) NOT NULL, 
	task VARCHAR(100) NOT NULL, 
	prompt VARCHAR NOT NULL, 
	params JSON NOT NULL, 
	model VARCHAR(200), 
	n INTEGER NOT NULL, 
	max_attempts INTEGER NOT NULL, 
	budget_seconds FLOAT NOT NULL, 
	callback_url VARCHAR, 
	state VARCHAR(16) NOT NULL, 
	verdict VARCHAR(8), 
	reason VARCHAR, 
	created_at DATETIME, 
	deadline_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "jobs" VALUES('job_kept','text-to-image','a red cube','{"w": 1}',NULL,1,3,300.0,NULL,'done','green',NULL,'2026-01-02 03:04:05.000000','2026-01-02 03:04:05.000000','2026-01-02 03:04:05.000000');
CREATE TABLE provider_calls (
	id INTEGER NOT NULL, 
	request_id VARCHAR(40) NOT NULL, 
	model VARCHAR(200) NOT NULL, 
	provider VARCHAR(100) NOT NULL, 
	provider_model VARCHAR(200) NOT NULL, 
	outcome VARCHAR(32) NOT NULL, 
	latency_ms FLOAT NOT NULL, 
	status_code INTEGER, 
	bytes INTEGER NOT NULL, 
	cost_estimate FLOAT NOT NULL, 
	message VARCHAR NOT NULL, 
	image_id VARCHAR(64), 
	created_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE review_decisions (
	id INTEGER NOT NULL, 
	evaluation_id VARCHAR(40) NOT NULL, 
	decision VARCHAR(8) NOT NULL, 
	reviewer VARCHAR(200) NOT NULL, 
	note VARCHAR(4000), 
	created_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (evaluation_id), 
	FOREIGN KEY(evaluation_id) REFERENCES evaluations (id)
);
CREATE TABLE votes (
	id INTEGER NOT NULL, 
	evaluation_id VARCHAR(40) NOT NULL, 
	judge VARCHAR(100) NOT NULL, 
	passed BOOLEAN, 
	reasoning VARCHAR NOT NULL, 
	criteria JSON NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	usage JSON, 
	created_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_vote_evaluation_judge UNIQUE (evaluation_id, judge), 
	FOREIGN KEY(evaluation_id) REFERENCES evaluations (id)
);
INSERT INTO "votes" VALUES(1,'ev_kept','pixels',1,'fine','[]',1.5,'null','2026-01-02 03:04:05.000000');
CREATE TABLE webhook_deliveries (
	id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	resource_id VARCHAR(40) NOT NULL, 
	url VARCHAR NOT NULL, 
	attempt INTEGER NOT NULL, 
	status_code INTEGER, 
	error VARCHAR, 
	delivered BOOLEAN NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	created_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_provider_calls_provider ON provider_calls (provider);
CREATE INDEX ix_provider_calls_outcome ON provider_calls (outcome);
CREATE INDEX ix_provider_calls_created_at ON provider_calls (created_at);
CREATE INDEX ix_provider_calls_request_id ON provider_calls (request_id);
CREATE INDEX ix_jobs_task ON jobs (task);
CREATE INDEX ix_jobs_state ON jobs (state);
CREATE INDEX ix_jobs_verdict ON jobs (verdict);
CREATE INDEX ix_jobs_created_at ON jobs (created_at);
CREATE INDEX ix_webhook_deliveries_resource_id ON webhook_deliveries (resource_id);
CREATE INDEX ix_evaluations_verdict ON evaluations (verdict);
CREATE INDEX ix_evaluations_task ON evaluations (task);
CREATE INDEX ix_evaluations_status ON evaluations (status);
CREATE INDEX ix_evaluations_created_at ON evaluations (created_at);
CREATE INDEX ix_job_attempts_evaluation_id ON job_attempts (evaluation_id);
CREATE INDEX ix_job_attempts_job_id ON job_attempts (job_id);
CREATE INDEX ix_votes_evaluation_id ON votes (evaluation_id);
COMMIT;
