ALTER TABLE things ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
