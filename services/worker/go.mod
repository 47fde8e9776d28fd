module github.com/lynkr/lynkr/services/worker

go 1.26
