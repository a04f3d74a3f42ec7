-- The rollout plan: waves of committees, each with a start, a target share
-- of eligible members with an account, and a deadline. Seeded with the
-- city's plan (Kế hoạch 121-KH/TU): the 9 pilot committees from December
-- 2022, the other 41 from April 2023, accounts for everyone by end of June 2023.
CREATE TABLE waves (
    number     integer PRIMARY KEY CHECK (number > 0),
    name       text NOT NULL,
    starts_on  date NOT NULL,
    target_pct numeric(5, 2) NOT NULL CHECK (target_pct > 0 AND target_pct <= 100),
    deadline   date NOT NULL,
    CHECK (deadline > starts_on)
);
INSERT INTO waves (number, name, starts_on, target_pct, deadline) VALUES
    (1, 'Làm điểm: 9 đảng bộ', DATE '2022-12-22', 100, DATE '2023-06-30'),
    (2, 'Triển khai đồng loạt: 41 đảng bộ', DATE '2023-04-01', 100, DATE '2023-06-30');
