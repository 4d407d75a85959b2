CREATE TABLE oops (id int,);
